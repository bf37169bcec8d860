using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.Sqlite.Tests;

public sealed class SqliteFilterConformanceTests : FilterConformanceTests, IDisposable
{
    private readonly TempFolder _folder = new();
    private int _stores;

    protected override Task<IChunkStore> CreateStoreAsync() =>
        Task.FromResult<IChunkStore>(new SqliteChunkStore(_folder.File($"store-{Interlocked.Increment(ref _stores)}.db"), LabelTaxonomy.Default));

    public void Dispose() => _folder.Dispose();
}

public sealed class SqliteDifferentialTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task Broker_OnSqlite_RandomPoliciesCallersAndChunks_ReturnsExactlyWhatTheOracleAllows()
    {
        // 15 worlds x 150 cases: 2,250 retrievals against the real SQLite engine.
        var failure = await DifferentialHarness.RunAsync(
            world => Task.FromResult<IChunkStore>(new SqliteChunkStore(_folder.File($"world-{world}.db"), LabelTaxonomy.Default)),
            seed: 424242,
            worlds: 15,
            casesPerWorld: 150);
        Assert.True(failure is null, failure);
    }

    public void Dispose() => _folder.Dispose();
}
