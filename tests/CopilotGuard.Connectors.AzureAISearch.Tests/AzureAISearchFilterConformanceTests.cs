using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

/// <summary>Runs the shared filter conformance suite through the real SDK against <see cref="FakeSearchService"/>,
/// whose filters are evaluated by the independent <see cref="ODataEvaluator"/>; prefixes go to the post-filter.</summary>
public sealed class AzureAISearchFilterConformanceTests : FilterConformanceTests
{
    protected override Task<IChunkStore> CreateStoreAsync() =>
        Task.FromResult<IChunkStore>(new BrokerSplitStore(new AzureAISearchChunkStore(
            new FakeSearchService().CreateIndexClient(),
            LabelTaxonomy.Default,
            new AzureAISearchChunkStoreOptions { IndexName = "conformance", Dimensions = 4, Algorithm = AzureAISearchVectorAlgorithm.ExhaustiveKnn })));
}

public sealed class AzureAISearchDifferentialTests
{
    [Fact]
    public async Task Broker_OnAzureAISearchRequests_RandomPoliciesCallersAndChunks_ReturnsExactlyWhatTheOracleAllows()
    {
        // 12 worlds x 250 cases: 3,000 retrievals whose filters are compiled to OData, sent through the SDK and
        // evaluated by the independent OData evaluator; prefixes stay in the broker's post-filter.
        var failure = await DifferentialHarness.RunAsync(
            world => Task.FromResult<IChunkStore>(new AzureAISearchChunkStore(
                new FakeSearchService().CreateIndexClient(),
                LabelTaxonomy.Default,
                new AzureAISearchChunkStoreOptions { IndexName = $"world-{world}", Dimensions = 8, Algorithm = AzureAISearchVectorAlgorithm.ExhaustiveKnn })),
            seed: 616161,
            worlds: 12,
            casesPerWorld: 250);
        Assert.True(failure is null, failure);
    }
}
