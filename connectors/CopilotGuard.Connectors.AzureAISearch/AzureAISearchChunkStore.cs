using System.Buffers.Text;
using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Search.Documents;
using Azure.Search.Documents.Indexes;
using Azure.Search.Documents.Models;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch;

/// <summary>A chunk store in an Azure AI Search index: vector, keyword and hybrid queries with the residual filter
/// compiled to OData <c>$filter</c>.</summary>
/// <remarks>
/// <para>
/// The index holds the security fields as top-level filterable fields (<c>id</c>, <c>documentId</c>, <c>source</c>,
/// <c>label</c>, <c>labelRank</c>, <c>version</c>, <c>subjects</c>) and every ingested attribute as an element of
/// the complex collection <c>attributes</c> (name, kind, text, number), so any attribute is filterable without
/// changing the index. String prefixes are not pushed down (<see cref="Capabilities"/> leaves them out); the broker
/// applies them after the query.
/// </para>
/// <para>
/// Document keys are the base64url form of the chunk id, because keys allow only letters, digits, <c>_</c>,
/// <c>-</c> and <c>=</c>. Uploads are batched and not atomic across batches: a failed batch throws, and re-running
/// the upsert converges. Results are rescored from the returned vectors exactly like every other store (cosine,
/// rounded to 6 decimals, ties by chunk id), so rankings agree across stores.
/// </para>
/// <para>
/// Keyword queries send the query text as the <c>search</c> parameter (simple query syntax, over <c>title</c> and
/// <c>text</c> only); hybrid queries send it together with the vector query, and the service fuses both rankings
/// (reciprocal rank fusion). Both take their scores from <c>@search.score</c>, ties by chunk id. In every mode the
/// same <c>$filter</c> restricts the results, and the query text never enters it.
/// </para>
/// </remarks>
public sealed class AzureAISearchChunkStore : IChunkStore
{
    // A query returns at most 1,000 results and skips at most 100,000.
    private const int DocumentPageSize = 1000;
    private const int MaxSkip = 100_000;

    private static readonly FrozenSet<RetrievalMode> Modes = RetrievalModes.All.ToFrozenSet();

    private readonly SearchIndexClient _indexClient;
    private readonly SearchClient _searchClient;
    private readonly LabelTaxonomy _labels;
    private readonly AzureAISearchChunkStoreOptions _options;

    /// <summary>Creates a store over an index of an Azure AI Search service.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public AzureAISearchChunkStore(SearchIndexClient indexClient, LabelTaxonomy labels, AzureAISearchChunkStoreOptions? options = null)
    {
        _indexClient = indexClient ?? throw new ArgumentNullException(nameof(indexClient));
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _options = options ?? new AzureAISearchChunkStoreOptions();
        _options.Validate();
        _searchClient = indexClient.GetSearchClient(_options.IndexName);
    }

    /// <inheritdoc />
    public string Name => "azure-ai-search";

    /// <inheritdoc />
    public FilterCapabilities Capabilities => ODataFilterCompiler.Capabilities;

    /// <inheritdoc />
    /// <remarks>Every mode: vector, keyword and hybrid.</remarks>
    public IReadOnlySet<RetrievalMode> SupportedModes => Modes;

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The index exists but lacks a field the store needs.</exception>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        try
        {
            var existing = await _indexClient.GetIndexAsync(_options.IndexName, cancellationToken).ConfigureAwait(false);
            var problems = ChunkIndexSchema.Validate(existing.Value, _options);
            if (problems.Count > 0)
            {
                throw new InvalidOperationException($"Index '{_options.IndexName}' cannot hold CopilotGuard chunks: {string.Join("; ", problems)}.");
            }
        }
        catch (RequestFailedException error) when (error.Status == 404)
        {
            await _indexClient.CreateIndexAsync(ChunkIndexSchema.Build(_options.IndexName, _options), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        foreach (var batch in chunks.Select(ToDocument).Chunk(_options.UploadBatchSize))
        {
            await _searchClient.IndexDocumentsAsync(
                IndexDocumentsBatch.Upload(batch),
                new IndexDocumentsOptions { ThrowOnAnyError = true },
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">The filter holds a string prefix, which OData cannot express.</exception>
    /// <exception cref="ArgumentException">A keyword or hybrid query has no text, or the mode is unknown.</exception>
    public async Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(query.Top);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Skip);
        if (!Modes.Contains(query.Mode))
        {
            throw new ArgumentException($"Unknown retrieval mode {query.Mode}.", nameof(query));
        }

        if (query.Mode != RetrievalMode.Vector && string.IsNullOrWhiteSpace(query.Text))
        {
            throw new ArgumentException($"A {RetrievalModes.Name(query.Mode)} query needs query text.", nameof(query));
        }

        var filter = ODataFilterCompiler.Compile(query.Filter);
        var native = filter ?? "true";
        if (filter == "false")
        {
            return new ChunkSearchResult([], native, Exhausted: true);
        }

        // Ask for the whole prefix of the ranking and page in process, so ties are broken the same way on every page;
        // one result more than needed tells whether the store is exhausted.
        var wanted = query.Skip + query.Top;
        var options = CreateSearchOptions(query, filter, wanted + 1);
        var searchText = query.Mode == RetrievalMode.Vector ? null : query.Text;
        var response = await _searchClient.SearchAsync<ChunkDocument>(searchText, options, cancellationToken).ConfigureAwait(false);
        var hits = new List<(Chunk Chunk, double Score)>();
        await foreach (var result in response.Value.GetResultsAsync().WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var document = result.Document;
            var score = query.Mode != RetrievalMode.Vector
                ? result.Score ?? 0
                : document.Embedding is { } embedding
                    ? Score(query.Vector.Span, embedding)
                    : Math.Round(2 - (1 / (result.Score ?? 1)), 6);
            hits.Add((ToChunk(document), score));
        }

        var count = hits.Count;
        hits.Sort(static (a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : string.CompareOrdinal(a.Chunk.Id, b.Chunk.Id);
        });
        var page = hits.Skip(query.Skip).Take(query.Top).Select(static hit => new ScoredChunk(hit.Chunk, hit.Score)).ToList();
        return new ChunkSearchResult(page, native, count <= wanted);
    }

    /// <inheritdoc />
    public async Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunkId);
        try
        {
            var response = await _searchClient.GetDocumentAsync<ChunkDocument>(
                DocumentKey(chunkId),
                new GetDocumentOptions { SelectedFields = { ChunkIndexSchema.Id, ChunkIndexSchema.DocumentId, ChunkIndexSchema.Source, ChunkIndexSchema.Label, ChunkIndexSchema.LabelRank, ChunkIndexSchema.Version, ChunkIndexSchema.Title, ChunkIndexSchema.Text, ChunkIndexSchema.Subjects, ChunkIndexSchema.Fields, ChunkIndexSchema.RowSchema, ChunkIndexSchema.Attributes } },
                cancellationToken).ConfigureAwait(false);
            return ToChunk(response.Value);
        }
        catch (RequestFailedException error) when (error.Status == 404)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<long> CountAsync(CancellationToken cancellationToken) =>
        (await _searchClient.GetDocumentCountAsync(cancellationToken).ConfigureAwait(false)).Value;

    /// <inheritdoc />
    /// <remarks>Pages through a <c>documentId eq '...'</c> filter query (no search text), then orders by chunk id.</remarks>
    /// <exception cref="InvalidOperationException">The document has more chunks than the service lets a query page through.</exception>
    public async Task<IReadOnlyList<Chunk>> GetDocumentAsync(string documentId, CancellationToken cancellationToken)
    {
        var documents = await ListDocumentAsync(documentId, ChunkIndexSchema.SelectedWithoutVector, cancellationToken).ConfigureAwait(false);
        return [.. documents.Select(ToChunk)];
    }

    /// <inheritdoc />
    /// <remarks>
    /// Merges <c>label</c> and <c>labelRank</c> (the fields the compiled filter reads; the label is not an element of
    /// <c>attributes</c>) into every chunk of the document, in batches of
    /// <see cref="AzureAISearchChunkStoreOptions.UploadBatchSize"/>. Azure AI Search has no transactions: a batch is
    /// applied per document, a failed merge throws, and re-running the change converges. The service makes a change
    /// searchable within about a second of the response.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The document has more chunks than the service lets a query page through.</exception>
    public async Task<int> SetDocumentLabelAsync(string documentId, SensitivityLabel label, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(label);
        var documents = await ListDocumentAsync(documentId, [ChunkIndexSchema.Id], cancellationToken).ConfigureAwait(false);
        var merges = documents.Select(document => new LabelDocument { Key = DocumentKey(document.Id), Label = label.Name, LabelRank = label.Rank });
        foreach (var batch in merges.Chunk(_options.UploadBatchSize))
        {
            await _searchClient.IndexDocumentsAsync(
                IndexDocumentsBatch.Merge(batch),
                new IndexDocumentsOptions { ThrowOnAnyError = true },
                cancellationToken).ConfigureAwait(false);
        }

        return documents.Count;
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">The filter holds a string prefix, which OData cannot express.</exception>
    public string DescribeFilter(FilterNode filter) => ODataFilterCompiler.Compile(filter) ?? "true";

    /// <summary>Returns the index document key for a chunk id: its UTF-8 bytes in base64url.</summary>
    internal static string DocumentKey(string chunkId) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(chunkId));

    /// <summary>Builds the search request of a query: the filter and size always; the vector query for vector and
    /// hybrid; simple-syntax full text over title and text for keyword and hybrid.</summary>
    internal SearchOptions CreateSearchOptions(ChunkQuery query, string? filter, int wanted)
    {
        var options = new SearchOptions { Filter = filter, Size = wanted };
        if (query.Mode != RetrievalMode.Keyword)
        {
            options.VectorSearch = new VectorSearchOptions
            {
                Queries =
                {
                    new VectorizedQuery(query.Vector)
                    {
                        KNearestNeighborsCount = wanted,
                        Fields = { ChunkIndexSchema.Embedding },
                        Exhaustive = _options.ExhaustiveQueries ? true : null,
                    },
                },
                FilterMode = VectorFilterMode.PreFilter,
            };
        }

        if (query.Mode != RetrievalMode.Vector)
        {
            options.QueryType = SearchQueryType.Simple;
            options.SearchMode = SearchMode.Any;
            options.SearchFields.Add(ChunkIndexSchema.Title);
            options.SearchFields.Add(ChunkIndexSchema.Text);
        }

        // Vector results are rescored from their vectors; keyword and hybrid scores come from the service.
        foreach (var field in query.Mode == RetrievalMode.Vector ? ChunkIndexSchema.Selected : ChunkIndexSchema.SelectedWithoutVector)
        {
            options.Select.Add(field);
        }

        return options;
    }

    /// <summary>Lists the index documents of one document (the given fields only), ordered by chunk id, paging with
    /// <c>skip</c> through a filter-only query.</summary>
    private async Task<List<ChunkDocument>> ListDocumentAsync(string documentId, IEnumerable<string> fields, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        var filter = $"{ChunkIndexSchema.DocumentId} eq {ODataFilterCompiler.Quote(documentId)}";
        var found = new Dictionary<string, ChunkDocument>(StringComparer.Ordinal);
        for (var skip = 0; ; skip += DocumentPageSize)
        {
            if (skip > MaxSkip)
            {
                throw new InvalidOperationException($"Document '{documentId}' has more than {MaxSkip} chunks, more than an Azure AI Search query can page through.");
            }

            var options = new SearchOptions { Filter = filter, Size = DocumentPageSize, Skip = skip == 0 ? null : skip };
            foreach (var field in fields)
            {
                options.Select.Add(field);
            }

            var response = await _searchClient.SearchAsync<ChunkDocument>(null, options, cancellationToken).ConfigureAwait(false);
            var count = 0;
            await foreach (var result in response.Value.GetResultsAsync().WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                count++;
                found.TryAdd(result.Document.Id, result.Document);
            }

            if (count < DocumentPageSize)
            {
                break;
            }
        }

        return [.. found.Values.OrderBy(static document => document.Id, StringComparer.Ordinal)];
    }

    private static double Score(ReadOnlySpan<float> query, ReadOnlySpan<float> vector) =>
        vector.Length == query.Length && vector.Length > 0 ? Math.Round(TensorPrimitives.CosineSimilarity(query, vector), 6) : 0;

    private static ChunkDocument ToDocument(StoredChunk stored)
    {
        var chunk = stored.Chunk;
        var attributes = new List<AttributeDocument>();
        foreach (var (name, values) in chunk.Attributes.OrderBy(static pair => pair.Key, StringComparer.Ordinal))
        {
            if (values.IsEmpty)
            {
                // An empty list is present: one marker element, which no leaf reads as a value.
                attributes.Add(new AttributeDocument { Name = name, Kind = KindRules.EmptyListKind, Text = string.Empty, Number = null });
                continue;
            }

            foreach (var value in values)
            {
                attributes.Add(new AttributeDocument { Name = name, Kind = (int)value.Kind, Text = value.Text, Number = value.IsNumeric ? value.Number : null });
            }
        }

        return new ChunkDocument
        {
            Key = DocumentKey(chunk.Id),
            Id = chunk.Id,
            DocumentId = chunk.DocumentId,
            Source = chunk.Source,
            Label = chunk.Label.Name,
            LabelRank = chunk.Label.Rank,
            Version = chunk.Version,
            Title = chunk.Title,
            Text = chunk.Text,
            Subjects = chunk.Subjects.IsDefaultOrEmpty ? [] : [.. chunk.Subjects],
            Fields = chunk.Fields is null ? null : JsonSerializer.Serialize(chunk.Fields),
            RowSchema = chunk.Schema is null ? null : JsonSerializer.Serialize(chunk.Schema),
            Attributes = attributes,
            Embedding = stored.Vector.ToArray(),
        };
    }

    private Chunk ToChunk(ChunkDocument document)
    {
        if (!_labels.TryGet(document.Label, out var label))
        {
            throw new InvalidDataException($"Chunk '{document.Id}' carries label '{document.Label}', which is not in the taxonomy.");
        }

        var builder = new AttributeSetBuilder();
        foreach (var attribute in document.Attributes ?? [])
        {
            if (attribute.Kind == KindRules.EmptyListKind)
            {
                builder.Declare(attribute.Name);
                continue;
            }

            builder.Add(attribute.Name, (AttributeKind)attribute.Kind switch
            {
                AttributeKind.Timestamp => AttributeValue.FromTimestampMilliseconds(attribute.Number ?? 0),
                AttributeKind.String => AttributeValue.FromString(attribute.Text),
                AttributeKind.Number => AttributeValue.FromNumber(attribute.Number ?? 0),
                AttributeKind.Boolean => AttributeValue.FromBoolean(attribute.Number is not (null or 0)),
                AttributeKind.Label => AttributeValue.FromLabel(attribute.Text, (int)(attribute.Number ?? 0)),
                var kind => throw new InvalidDataException($"Unknown attribute kind {kind} in the index."),
            });
        }

        return new Chunk
        {
            Id = document.Id,
            DocumentId = document.DocumentId,
            Source = document.Source,
            Label = label,
            Version = document.Version,
            Title = document.Title,
            Text = document.Text,
            Subjects = document.Subjects is { Count: > 0 } subjects ? [.. subjects] : [],
            Fields = document.Fields is null ? null : JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(document.Fields)?.ToImmutableDictionary(StringComparer.Ordinal),
            Schema = document.RowSchema is null ? null : JsonSerializer.Deserialize<RowSchema>(document.RowSchema),
            Attributes = builder.Build(),
        };
    }
}
