using CopilotGuard.Filtering;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Retrieval;

public sealed class DifferentialTests
{
    [Fact]
    public async Task Broker_RandomPoliciesCallersAndChunks_ReturnsExactlyWhatTheOracleAllows()
    {
        // 250 worlds x 400 cases x 40 chunks: 100,000 retrievals (4,000,000 chunk decisions); every 20th case also
        // checks policy explain against the oracle on all 40 chunks.
        var failure = await DifferentialHarness.RunAsync(_ => Task.FromResult<CopilotGuard.Retrieval.IChunkStore>(new InMemoryChunkStore()), seed: 20261128, worlds: 250, casesPerWorld: 400, explainEvery: 20);
        Assert.True(failure is null, failure);
    }

    [Theory]
    [InlineData(FilterCapabilities.None)]
    [InlineData(FilterCapabilities.Equality)]
    [InlineData(FilterCapabilities.Equality | FilterCapabilities.In | FilterCapabilities.Range)]
    public async Task Broker_StoreThatPushesDownOnlyPartOfTheFilter_StillReturnsExactlyWhatTheOracleAllows(FilterCapabilities capabilities)
    {
        var failure = await DifferentialHarness.RunAsync(_ => Task.FromResult<CopilotGuard.Retrieval.IChunkStore>(new InMemoryChunkStore(capabilities)), seed: 7 + (int)capabilities, worlds: 10, casesPerWorld: 50);
        Assert.True(failure is null, failure);
    }
}
