using CopilotGuard.Filtering;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Retrieval;

public sealed class DifferentialTests
{
    [Fact]
    public async Task Broker_RandomPoliciesCallersAndChunks_ReturnsExactlyWhatTheOracleAllows()
    {
        // 40 worlds x 100 cases x 40 chunks: 4,000 retrievals, 160,000 chunk decisions.
        var failure = await DifferentialHarness.RunAsync(_ => Task.FromResult<CopilotGuard.Retrieval.IChunkStore>(new InMemoryChunkStore()), seed: 20261128, worlds: 40, casesPerWorld: 100);
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
