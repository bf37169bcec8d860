using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Client.Tests;

/// <summary>Starts the real server on a free loopback port over a fresh data folder seeded with the samples (as the server tests do).</summary>
public sealed class GuardServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-server-").FullName;

    public Uri Endpoint { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public CopilotGuardRuntime Runtime { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _app = await CopilotGuardServer.BuildAsync(["--data", DataPath, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
            "--CopilotGuard:Anomaly:Enabled=false", "--CopilotGuard:RateLimits:Enabled=false"]);
        await _app.StartAsync();
        Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
        Endpoint = new Uri(address);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataPath, recursive: true);
    }

    public string Token(string user, string? agent = null) => Runtime.Issuer.CreateToken(user, agent);

    /// <summary>Creates a client that calls as <paramref name="user"/> (through <paramref name="agent"/>, if any).</summary>
    public CopilotGuardClient ClientFor(string user, string? agent = null) =>
        new(Http, new CopilotGuardClientOptions { Endpoint = Endpoint, TokenProvider = CopilotGuardTokenProviders.Static(Token(user, agent)) });
}

[CollectionDefinition(Name)]
public sealed class GuardServerCollection : ICollectionFixture<GuardServerFixture>
{
    public const string Name = "guard-server";
}
