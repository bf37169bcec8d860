using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Retrieval;
using CopilotGuard.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests;

/// <summary>Starts the real server on a free loopback port over a fresh data folder seeded with the samples, with the
/// store and audit log a subclass chooses.</summary>
public abstract class StoreServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    /// <summary>Gets the store name the audit records carry (<c>sqlite</c>, <c>postgresql</c>).</summary>
    public abstract string StoreName { get; }

    public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-e2e-").FullName;

    public HttpClient Client { get; private set; } = null!;

    public CopilotGuardRuntime Runtime { get; private set; } = null!;

    /// <summary>Gets the running server's services.</summary>
    public IServiceProvider Services => _app!.Services;

    public TimeSpan StartupTime { get; private set; }

    /// <summary>Gets the last released form (JSON) of each chunk returned by <see cref="RetrieveAsync"/>.</summary>
    public Dictionary<string, JsonElement> Released { get; } = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
    {
        if (SkipReason is not null)
        {
            // Every test of the collection is skipped with this reason (see StoreFactAttribute); nothing to start.
            return;
        }

        var providers = await StartProvidersAsync();
        var started = System.Diagnostics.Stopwatch.StartNew();
        _app = await CopilotGuardServer.BuildAsync(["--data", DataPath, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
            // The functional suites drive many retrievals per person within seconds; the anomaly and rate-limit
            // suites turn these on for their own servers.
            "--CopilotGuard:Anomaly:Enabled=false", "--CopilotGuard:RateLimits:Enabled=false", .. providers], ServerOptions);
        await _app.StartAsync();
        StartupTime = started.Elapsed;
        Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
        Client = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            Client.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataPath, recursive: true);
        if (SkipReason is null)
        {
            await StopProvidersAsync();
        }
    }

    /// <summary>Gets the host options the server is built with (e.g. an audit decorator).</summary>
    protected virtual CopilotGuardServerOptions ServerOptions => new();

    /// <summary>Gets why the providers cannot run here (the tests are then skipped with it), or null.</summary>
    protected virtual string? SkipReason => null;

    /// <summary>Starts what the providers need and returns the server arguments that select them.</summary>
    protected abstract Task<string[]> StartProvidersAsync();

    /// <summary>Stops what <see cref="StartProvidersAsync"/> started.</summary>
    protected virtual Task StopProvidersAsync() => Task.CompletedTask;

    public string Token(string user, string? agent = null) => Runtime.Issuer.CreateToken(user, agent);

    public Task<HttpResponseMessage> PostRetrieveAsync(string? token, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = JsonContent.Create(body) };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return Client.SendAsync(request);
    }

    /// <summary>Retrieves as a caller and returns the response with each chunk as stored (attributes included).</summary>
    public async Task<(string ReceiptId, List<Chunk> Chunks)> RetrieveAsync(string user, string query, string? agent = null, string? destination = "internal", int top = 50)
    {
        using var response = await PostRetrieveAsync(Token(user, agent), new { query, top, destination });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        var chunks = new List<Chunk>();
        foreach (var element in json.RootElement.GetProperty("chunks").EnumerateArray())
        {
            var chunk = await Runtime.Store.GetAsync(element.GetProperty("id").GetString()!, CancellationToken.None);
            Assert.NotNull(chunk);
            Assert.Equal(chunk.Label.Name, element.GetProperty("label").GetString());
            Released[chunk.Id] = element.Clone();
            chunks.Add(chunk);
        }

        return (json.RootElement.GetProperty("receiptId").GetString()!, chunks);
    }
}

/// <summary>The embedded default: SQLite store and audit log in the data folder.</summary>
public sealed class ServerFixture : StoreServerFixture
{
    public override string StoreName => "sqlite";

    protected override Task<string[]> StartProvidersAsync() => Task.FromResult<string[]>([]);
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
