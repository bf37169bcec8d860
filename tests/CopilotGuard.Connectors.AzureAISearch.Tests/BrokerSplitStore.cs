using CopilotGuard.Filtering;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

/// <summary>Runs a filter the way the broker does: the part within the store's capabilities is pushed down, the
/// exact filter is applied to what comes back. Pushed-only filters reach the store unchanged and are not re-checked.</summary>
/// <remarks>Lets the shared conformance suite, which calls <see cref="IChunkStore.SearchAsync"/> directly, cover a
/// store that declares fewer than all capabilities (here: no string prefixes) without weakening the other cases.</remarks>
public sealed class BrokerSplitStore(IChunkStore inner) : IChunkStore
{
    public string Name => inner.Name;

    public FilterCapabilities Capabilities => FilterCapabilities.All;

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken) => inner.UpsertAsync(chunks, cancellationToken);

    public async Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
    {
        var (pushed, exact, isExact) = Filters.Split(query.Filter, inner.Capabilities);
        if (isExact)
        {
            return await inner.SearchAsync(query, cancellationToken);
        }

        var result = await inner.SearchAsync(query with { Filter = pushed, Top = 1000, Skip = 0 }, cancellationToken);
        var kept = result.Chunks.Where(c => FilterEvaluator.Matches(exact, c.Chunk.ResourceAttributes)).ToList();
        return new ChunkSearchResult([.. kept.Skip(query.Skip).Take(query.Top)], result.NativeFilter, kept.Count <= query.Skip + query.Top);
    }

    public Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken) => inner.GetAsync(chunkId, cancellationToken);

    public Task<long> CountAsync(CancellationToken cancellationToken) => inner.CountAsync(cancellationToken);

    public string DescribeFilter(FilterNode filter) => inner.DescribeFilter(filter);
}
