using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>CopilotGuard composed the way a team adds it to its own ASP.NET Core app: the sample host in a child
/// process, the listening address the platform names, and settings validated when the host starts.</summary>
[Collection(ServerCollection.Name)]
public sealed class CompositionTests(ServerFixture server) : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-host-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task SampleHost_ServesItsOwnEndpointAndCopilotGuardsRoutes()
    {
        CopilotGuard.Server.Tests.Audit.ChildProcess.CopySeededFolder(server.DataPath, _data);
        var address = new Uri($"http://127.0.0.1:{ChildServer.FreePort()}");
        await using var host = await ChildServer.StartAsync(
            "CopilotGuard.Samples.Host",
            address,
            ["--data", _data, "--urls", address.ToString(), "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true"]);

        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/openapi/v1.json")).StatusCode);
        using (var anonymous = await host.Client.PostAsJsonAsync("/v1/retrieve", new { query = "campaign", top = 5, destination = "internal" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        // carol (marketing) through the sample host: only kb and marketing chunks, with a receipt.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = JsonContent.Create(new { query = "campaign launch plan", top = 10, destination = "internal" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("carol"));
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("receiptId").GetString()));
        var sources = json.RootElement.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("source").GetString()).ToList();
        Assert.NotEmpty(sources);
        Assert.All(sources, static s => Assert.Contains(s, new[] { "kb", "marketing" }));
    }

    [Theory]
    [InlineData("ASPNETCORE_HTTP_PORTS")]
    [InlineData("ASPNETCORE_URLS")]
    public async Task Server_ListensWhereThePlatformSays_WhenNoUrlsAreGiven(string variable)
    {
        CopilotGuard.Server.Tests.Audit.ChildProcess.CopySeededFolder(server.DataPath, _data);
        var port = ChildServer.FreePort();
        var value = variable == "ASPNETCORE_URLS" ? $"http://127.0.0.1:{port}" : port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var child = await ChildServer.StartAsync(
            "CopilotGuard.Server",
            new Uri($"http://127.0.0.1:{port}"),
            ["--data", _data, "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true"],
            new Dictionary<string, string> { [variable] = value });
        using var ready = await child.Client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Theory]
    [InlineData(new[] { "--urls", "http://0.0.0.0:8080" }, true)]
    [InlineData(new[] { "--http_ports", "8080" }, true)]
    [InlineData(new[] { "--Kestrel:Endpoints:Http:Url", "http://127.0.0.1:9000" }, true)]
    [InlineData(new string[0], false)]
    public void LoopbackDefault_AppliesOnlyWhenNoAddressIsConfigured(string[] arguments, bool configured)
    {
        var configuration = new ConfigurationBuilder().AddCommandLine(arguments).Build();
        Assert.Equal(configured, CopilotGuardServer.HasListenAddress(configuration));
    }

    [Fact]
    public async Task Host_RefusesToStart_WhenTheConfigurationChoosesAProviderItDidNotRegister()
    {
        var builder = WebApplication.CreateSlimBuilder(["--data", _data, "--urls", "http://127.0.0.1:0",
            "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
            "--CopilotGuard:Store:Provider=postgresql", "--CopilotGuard:Store:ConnectionString=Host=db.invalid;Database=x;Username=u;Password=p"]);
        builder.Services.AddCopilotGuard(builder.Configuration).AddSqliteStore().AddSqliteAudit().AddLocalEmbeddings();
        await using var app = builder.Build();
        app.UseCopilotGuard();
        app.MapCopilotGuard();

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains("CopilotGuard:Store:Provider 'postgresql' is not registered", exception.Message, StringComparison.Ordinal);
        Assert.Contains("AddPostgreSqlStore()", exception.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(_data, "*.db"));
    }

    [Theory]
    [InlineData("MaxTop", "0")]
    [InlineData("MaxQueryLength", "-5")]
    [InlineData("MaxCandidates", "2000000")]
    public async Task Host_RefusesToStart_WhenABrokerLimitIsOutOfRange(string setting, string value)
    {
        await using var app = await CopilotGuardServer.BuildAsync(["--data", _data, "--urls", "http://127.0.0.1:0", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true", $"--CopilotGuard:Retrieval:{setting}={value}"]);
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(setting, exception.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_data, "audit.db")));
    }

    [Fact]
    public void RuntimeServices_AreTheOnesTheRuntimeOpened()
    {
        Assert.Same(server.Runtime.Broker, server.Services.GetRequiredService<CopilotGuard.Retrieval.RetrievalBroker>());
        Assert.Same(server.Runtime.AuditService, server.Services.GetRequiredService<CopilotGuard.Audit.AuditService>());
        Assert.Same(server.Runtime.Issuer, server.Services.GetRequiredService<CopilotGuard.Hosting.Identity.DevelopmentIssuer>());
    }
}
