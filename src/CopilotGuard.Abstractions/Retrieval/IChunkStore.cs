using System.Collections.Frozen;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;

namespace CopilotGuard.Retrieval;

/// <summary>How a store ranks chunks for a query.</summary>
public enum RetrievalMode
{
    /// <summary>Nearest neighbours of the query embedding (the default).</summary>
    Vector,

    /// <summary>Full-text search over the chunk title and text; no embedding is needed.</summary>
    Keyword,

    /// <summary>Full-text and vector search together, fused by the store.</summary>
    Hybrid,
}

/// <summary>Names retrieval modes as they appear on the wire (<c>vector</c>, <c>keyword</c>, <c>hybrid</c>).</summary>
public static class RetrievalModes
{
    /// <summary>Gets every mode, in declaration order.</summary>
    public static IReadOnlyList<RetrievalMode> All { get; } = [RetrievalMode.Vector, RetrievalMode.Keyword, RetrievalMode.Hybrid];

    /// <summary>Gets the error message for a mode that is not one of <see cref="All"/>, naming the accepted values.</summary>
    public static string UnknownModeMessage { get; } = $"mode must be one of: {string.Join(", ", All.Select(Name))}.";

    /// <summary>Gets the modes a store supports unless it says otherwise: vector only.</summary>
    public static IReadOnlySet<RetrievalMode> VectorOnly { get; } = FrozenSet.Create(RetrievalMode.Vector);

    /// <summary>Returns the wire name of a mode.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined mode.</exception>
    public static string Name(RetrievalMode mode) => mode switch
    {
        RetrievalMode.Vector => "vector",
        RetrievalMode.Keyword => "keyword",
        RetrievalMode.Hybrid => "hybrid",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown retrieval mode."),
    };

    /// <summary>Parses a wire name (exact, lowercase); returns <see langword="false"/> for anything else.</summary>
    public static bool TryParse(string? name, out RetrievalMode mode)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(Name(candidate), name, StringComparison.Ordinal))
            {
                mode = candidate;
                return true;
            }
        }

        mode = RetrievalMode.Vector;
        return false;
    }
}

/// <summary>A query restricted by a pushed-down filter.</summary>
/// <param name="Vector">The query embedding; empty for <see cref="RetrievalMode.Keyword"/> queries.</param>
/// <param name="Filter">The filter the store must apply natively; only nodes within its capabilities.</param>
/// <param name="Top">How many results to return.</param>
/// <param name="Skip">How many of the best results to skip (for fetching further pages).</param>
public sealed record ChunkQuery(ReadOnlyMemory<float> Vector, FilterNode Filter, int Top, int Skip = 0)
{
    /// <summary>Gets the query text, for keyword and hybrid queries. The default is none.</summary>
    /// <remarks>Untrusted caller input: a store sends it as data (a search parameter), never into the filter.</remarks>
    public string? Text { get; init; }

    /// <summary>Gets how the store ranks results. The default is <see cref="RetrievalMode.Vector"/>.</summary>
    public RetrievalMode Mode { get; init; } = RetrievalMode.Vector;

    /// <summary>Gets who the search is for (the subject, and the agent acting for them), for a store that enforces the
    /// policy itself as a second line of defence (e.g. PostgreSQL row-level security). The default is none.</summary>
    /// <remarks>Never a substitute for <see cref="Filter"/>, which a store applies whatever this holds. A store that
    /// needs a caller and gets none must return no rows (fail closed).</remarks>
    public CallerPrincipals? Caller { get; init; }

    /// <summary>Gets the request attributes (<c>purpose</c>, <c>destination</c>) the policy was decided with, read
    /// together with <see cref="Caller"/>. The default is none, which such a store treats as no attributes.</summary>
    public AttributeSet? RequestAttributes { get; init; }
}

/// <summary>The result of a store search.</summary>
/// <param name="Chunks">Results, best first; ties broken by chunk id (ordinal).</param>
/// <param name="NativeFilter">The filter as the store ran it (its own dialect), for the audit record.</param>
/// <param name="Exhausted">True when no further results exist beyond these.</param>
public sealed record ChunkSearchResult(IReadOnlyList<ScoredChunk> Chunks, string NativeFilter, bool Exhausted);

/// <summary>A chunk store: keeps chunks, their attributes and vectors, and searches them under a native filter.</summary>
/// <remarks>
/// A store must apply <see cref="ChunkQuery.Filter"/> exactly (three-valued: a missing attribute never passes,
/// also under negation) and must throw <see cref="NotSupportedException"/> for any node outside
/// <see cref="Capabilities"/>, never ignore it. Results are ordered by score, then chunk id.
/// </remarks>
public interface IChunkStore
{
    /// <summary>Gets the store's name, as recorded in audit records (e.g. <c>sqlite</c>).</summary>
    string Name { get; }

    /// <summary>Gets the filter nodes the store evaluates natively.</summary>
    FilterCapabilities Capabilities { get; }

    /// <summary>Gets the query modes the store can run. The default is <see cref="RetrievalModes.VectorOnly"/>.</summary>
    /// <remarks>The broker refuses a request in any other mode before the store is queried.</remarks>
    IReadOnlySet<RetrievalMode> SupportedModes => RetrievalModes.VectorOnly;

    /// <summary>Creates the store's tables or indexes if needed.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Inserts or replaces chunks (by id), with their attributes and vectors, atomically.</summary>
    Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken);

    /// <summary>Runs a search (in the query's <see cref="ChunkQuery.Mode"/>) under the query's filter.</summary>
    Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken);

    /// <summary>Gets one chunk by id, or <see langword="null"/>.</summary>
    Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken);

    /// <summary>Counts the chunks in the store.</summary>
    Task<long> CountAsync(CancellationToken cancellationToken);

    /// <summary>Lists the kinds of value the store holds for each attribute name, so that start-up can find attributes
    /// ingested before they were typed (e.g. booleans stored as the string <c>"true"</c>).</summary>
    /// <returns>The kinds per attribute name, or <see langword="null"/> when the store cannot list them (the default).</returns>
    Task<IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>>?> GetAttributeKindsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>>?>(null);

    /// <summary>Compiles a filter to the store's dialect without running it, for explanations.</summary>
    string DescribeFilter(FilterNode filter);

    /// <summary>Gets every chunk of a document, in chunk id order (empty when the document is unknown).</summary>
    /// <exception cref="NotSupportedException">The store cannot list a document's chunks.</exception>
    Task<IReadOnlyList<Chunk>> GetDocumentAsync(string documentId, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"The {Name} store cannot list a document's chunks.");

    /// <summary>Sets the label of every chunk of a document at once; the next search sees the new label.</summary>
    /// <returns>How many chunks were relabelled.</returns>
    /// <exception cref="NotSupportedException">The store cannot change labels in place.</exception>
    Task<int> SetDocumentLabelAsync(string documentId, SensitivityLabel label, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"The {Name} store cannot change labels in place.");
}

/// <summary>Resolves label names stored by a store back into taxonomy labels.</summary>
public interface ILabelResolver
{
    /// <summary>Gets the label with the given name.</summary>
    SensitivityLabel Resolve(string name);
}
