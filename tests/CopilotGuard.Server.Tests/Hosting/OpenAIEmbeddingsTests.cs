using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>The runtime with <c>CopilotGuard:Embeddings:Provider=openai</c>, against a loopback endpoint that answers
/// like the OpenAI embeddings API.</summary>
public sealed class OpenAIEmbeddingsTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-openai-").FullName;
    private FakeOpenAIEmbeddings _endpoint = null!;

    public async Task InitializeAsync() => _endpoint = await FakeOpenAIEmbeddings.StartAsync();

    public async Task DisposeAsync()
    {
        await _endpoint.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task OpenAsync_OpenAIEmbedder_SeedsAndRetrievesThroughTheEndpoint_WithTheConfiguredModelKeyAndDimensions()
    {
        await using var runtime = await OpenAsync(queryCacheSize: 0);

        var seeded = await runtime.Store.CountAsync(CancellationToken.None);
        Assert.True(seeded > 0);
        Assert.Equal(seeded, _endpoint.TextsEmbedded);
        Assert.All(_endpoint.Requests, request =>
        {
            Assert.Equal("/v1/embeddings", request.Path);
            Assert.Equal("Bearer test-key", request.Authorization);
            Assert.Equal("test-embed", request.Model);
            Assert.Equal(24, request.Dimensions);
            Assert.NotEmpty(request.Inputs);
        });

        var before = _endpoint.Requests.Count;
        var result = await RetrieveAsync(runtime, "How do I reset my password?");
        var query = Assert.Single(_endpoint.Requests.Skip(before));
        Assert.Equal(["How do I reset my password?"], query.Inputs);
        Assert.NotEmpty(result.Chunks);
        Assert.Same(runtime.Embedder, runtime.QueryEmbedder);
    }

    [Fact]
    public async Task OpenAsync_QueryCacheSize_BrokerEmbedsARepeatedQueryOnce_AndIngestionBypassesTheCache()
    {
        await using var runtime = await OpenAsync(queryCacheSize: 8);
        var cache = runtime.QueryEmbedder.GetService<CachingQueryEmbeddingGenerator>();
        Assert.NotNull(cache);
        Assert.Equal(8, cache.Capacity);
        Assert.Equal(0, cache.Count);

        var before = _endpoint.Requests.Count;
        var first = await RetrieveAsync(runtime, "Parental leave policy");
        var second = await RetrieveAsync(runtime, "Parental leave policy");

        Assert.Single(_endpoint.Requests.Skip(before));
        Assert.Equal((1, 1), (cache.Hits, cache.Misses));
        Assert.Equal(first.Chunks.Select(static c => c.Chunk.Id), second.Chunks.Select(static c => c.Chunk.Id));
    }

    private Task<CopilotGuardRuntime> OpenAsync(int queryCacheSize) =>
        CopilotGuardRuntime.OpenAsync(
            new DataFolder(_data),
            options: new CopilotGuardRuntimeOptions
            {
                Providers = ProviderSettings.Bind(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["CopilotGuard:Embeddings:Provider"] = "openai",
                    ["CopilotGuard:Embeddings:Endpoint"] = _endpoint.Endpoint.ToString(),
                    ["CopilotGuard:Embeddings:ApiKey"] = "test-key",
                    ["CopilotGuard:Embeddings:Model"] = "test-embed",
                    ["CopilotGuard:Embeddings:Dimensions"] = "24",
                    ["CopilotGuard:Embeddings:QueryCacheSize"] = queryCacheSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                }).Build()),
            });

    private static Task<RetrievalResult> RetrieveAsync(CopilotGuardRuntime runtime, string query) =>
        runtime.Broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity("carol"), Query = query, Top = 5, Destination = "internal" }, CancellationToken.None);
}
