using System.Net.Http.Headers;
using System.Net.Http.Json;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests.Identity;

/// <summary>Runs the real server over its own data folder with tight limits: <c>frank</c> may make 3 requests per
/// window, the anomaly cold-start baseline is small so a burst of Highly Confidential chunks is High (which suspends), and the
/// directory has an agent (<c>rogue-agent</c>) that is not in the agent registry.</summary>
public sealed class IdentityServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-identity-").FullName;

    public HttpClient Client { get; private set; } = null!;

    public CopilotGuardRuntime Runtime { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var directory = await File.ReadAllTextAsync(Path.Combine(DataFolder.SamplesPath, "directory.yaml"));
        await File.WriteAllTextAsync(Path.Combine(DataPath, "directory.yaml"), directory + """
              - id: rogue-agent
                kind: agent
                displayName: An agent nobody registered
                attributes:
                  sources: [kb]
                  clearance: Confidential

            """);
        _app = await CopilotGuardServer.BuildAsync([
            "--data", DataPath,
            "--urls", "http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
            "--CopilotGuard:RateLimits:Window=1.00:00:00",
            "--CopilotGuard:RateLimits:Overrides:frank:RequestsPerWindow=3",
            "--CopilotGuard:RateLimits:Overrides:frank:ChunkWeightPerWindow=100000",
            "--CopilotGuard:Anomaly:MinimumVolume=20",
            "--CopilotGuard:Anomaly:Responses:High:0=Alert",
            "--CopilotGuard:Anomaly:Responses:High:1=Suspend",
            "--CopilotGuard:Anomaly:ColdStart:requests:Mean=5",
            "--CopilotGuard:Anomaly:ColdStart:requests:Deviation=2",
            "--CopilotGuard:Anomaly:ColdStart:chunks:Mean=10",
            "--CopilotGuard:Anomaly:ColdStart:chunks:Deviation=5",
            "--CopilotGuard:Anomaly:ColdStart:weighted:Mean=10",
            "--CopilotGuard:Anomaly:ColdStart:weighted:Deviation=5",
            "--CopilotGuard:Anomaly:ColdStart:documents:Mean=10",
            "--CopilotGuard:Anomaly:ColdStart:documents:Deviation=5",
        ]);
        await _app.StartAsync();
        Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Client = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataPath, recursive: true);
    }

    public string Token(string user, string? agent = null) => Runtime.Issuer.CreateToken(user, agent);

    public Task<HttpResponseMessage> RetrieveAsync(string user, string? agent = null, string query = "how do I reset a POS terminal", int top = 3, string? destination = "internal", string? purpose = null) =>
        PostAsync("/v1/retrieve", Token(user, agent), new { query, top, destination, purpose });

    public Task<HttpResponseMessage> PostAsync(string path, string token, object? body = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Client.SendAsync(request);
    }
}

[CollectionDefinition(Name)]
public sealed class IdentityServerCollection : ICollectionFixture<IdentityServerFixture>
{
    public const string Name = "identity-server";
}
