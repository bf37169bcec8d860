using System.Numerics.Tensors;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Testing;

/// <summary>A chunk store in memory whose native filter is the shared in-memory evaluator.</summary>
/// <remarks>Capabilities are configurable so tests can exercise the broker's split between pushed and post-filter.</remarks>
public sealed class InMemoryChunkStore(FilterCapabilities capabilities = FilterCapabilities.All) : IChunkStore
{
    private readonly Dictionary<string, StoredChunk> _chunks = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public string Name => "memory";

    public FilterCapabilities Capabilities => capabilities;

    /// <summary>Gets or sets a hook that can tamper with results (to simulate a store bug or a stale index).</summary>
    public Func<IReadOnlyList<ScoredChunk>, IReadOnlyList<ScoredChunk>>? Tamper { get; set; }

    /// <summary>Gets the filters the store was asked to run.</summary>
    public List<FilterNode> ReceivedFilters { get; } = [];

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var chunk in chunks)
            {
                _chunks[chunk.Chunk.Id] = chunk;
            }
        }

        return Task.CompletedTask;
    }

    public Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
    {
        if (!((IChunkStore)this).SupportedModes.Contains(query.Mode))
        {
            throw new NotSupportedException($"The memory store does not run {RetrievalModes.Name(query.Mode)} queries.");
        }

        EnsureSupported(query.Filter);
        List<StoredChunk> all;
        lock (_lock)
        {
            ReceivedFilters.Add(query.Filter);
            all = [.. _chunks.Values];
        }

        var passing = all.Where(chunk => FilterEvaluator.Matches(query.Filter, chunk.Chunk.ResourceAttributes)).ToList();
        var ranked = Rank(query.Vector.Span, passing);
        IReadOnlyList<ScoredChunk> page = ranked.Skip(query.Skip).Take(query.Top).ToList();
        if (Tamper is not null)
        {
            page = Tamper(page);
        }

        return Task.FromResult(new ChunkSearchResult(page, query.Filter.ToString(), passing.Count <= query.Skip + query.Top));
    }

    /// <summary>Ranks chunks by rounded cosine similarity, then chunk id: the ordering every store follows.</summary>
    public static List<ScoredChunk> Rank(ReadOnlySpan<float> query, IEnumerable<StoredChunk> chunks)
    {
        var scored = new List<ScoredChunk>();
        foreach (var chunk in chunks)
        {
            scored.Add(new ScoredChunk(chunk.Chunk, Math.Round(TensorPrimitives.CosineSimilarity(query, chunk.Vector.Span), 6)));
        }

        scored.Sort(static (a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : string.CompareOrdinal(a.Chunk.Id, b.Chunk.Id);
        });
        return scored;
    }

    public Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_chunks.TryGetValue(chunkId, out var chunk) ? chunk.Chunk : null);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<Chunk>> GetDocumentAsync(string documentId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<Chunk>>([.. _chunks.Values.Select(static stored => stored.Chunk).Where(chunk => chunk.DocumentId == documentId).OrderBy(static chunk => chunk.Id, StringComparer.Ordinal)]);
        }
    }

    /// <inheritdoc />
    public Task<int> SetDocumentLabelAsync(string documentId, SensitivityLabel label, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var relabelled = _chunks.Values.Where(stored => stored.Chunk.DocumentId == documentId).Select(stored => stored with { Chunk = stored.Chunk with { Label = label } }).ToList();
            foreach (var stored in relabelled)
            {
                _chunks[stored.Chunk.Id] = stored;
            }

            return Task.FromResult(relabelled.Count);
        }
    }

    public Task<IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>>?> GetAttributeKindsAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>> kinds = _chunks.Values
                .SelectMany(static stored => stored.Chunk.ResourceAttributes)
                .GroupBy(static pair => pair.Key, StringComparer.Ordinal)
                .ToDictionary(static group => group.Key, static group => (IReadOnlySet<AttributeKind>)group.SelectMany(static pair => pair.Value).Select(static value => value.Kind).ToHashSet(), StringComparer.Ordinal);
            return Task.FromResult<IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>>?>(kinds);
        }
    }

    /// <inheritdoc />
    public Task<long> CountAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult((long)_chunks.Count);
        }
    }

    public string DescribeFilter(FilterNode filter) => filter.ToString();

    private void EnsureSupported(FilterNode node)
    {
        switch (node)
        {
            case ConstantFilter:
                return;
            case AndFilter and:
                and.Operands.ToList().ForEach(EnsureSupported);
                return;
            case OrFilter or:
                or.Operands.ToList().ForEach(EnsureSupported);
                return;
            case NotFilter not:
                if (!capabilities.HasFlag(FilterCapabilities.Not))
                {
                    throw new NotSupportedException("negation");
                }

                EnsureSupported(not.Operand);
                return;
            default:
                var required = Filters.RequiredCapability(node);
                if ((capabilities & required) != required)
                {
                    throw new NotSupportedException(node.GetType().Name);
                }

                return;
        }
    }
}
