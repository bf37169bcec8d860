using CopilotGuard.Filtering;
using CopilotGuard.Labels;

namespace CopilotGuard.Retrieval;

/// <summary>A vector query restricted by a pushed-down filter.</summary>
/// <param name="Vector">The query embedding.</param>
/// <param name="Filter">The filter the store must apply natively; only nodes within its capabilities.</param>
/// <param name="Top">How many results to return.</param>
/// <param name="Skip">How many of the best results to skip (for fetching further pages).</param>
public sealed record ChunkQuery(ReadOnlyMemory<float> Vector, FilterNode Filter, int Top, int Skip = 0);

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

    /// <summary>Creates the store's tables or indexes if needed.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Inserts or replaces chunks (by id), with their attributes and vectors, atomically.</summary>
    Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken);

    /// <summary>Runs a vector search under the query's filter.</summary>
    Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken);

    /// <summary>Gets one chunk by id, or <see langword="null"/>.</summary>
    Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken);

    /// <summary>Counts the chunks in the store.</summary>
    Task<long> CountAsync(CancellationToken cancellationToken);

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
