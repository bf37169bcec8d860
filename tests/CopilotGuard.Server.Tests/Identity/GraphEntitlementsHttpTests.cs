using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;

namespace CopilotGuard.Server.Tests.Identity;

/// <summary>The server with Microsoft Graph as the authoritative entitlement source for <c>bob</c>, no cache reuse
/// (time to live and maximum staleness of zero), and Graph answered in process as it documents its responses.</summary>
public sealed class GraphServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-graph-").FullName;

    public FakeGraph Graph { get; } = new();

    public HttpClient Client { get; private set; } = null!;

    public CopilotGuardRuntime Runtime { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _app = await CopilotGuardServer.BuildAsync(
            [
                "--data", DataPath,
                "--urls", "http://127.0.0.1:0",
                "--Logging:LogLevel:Default=None",
                "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
                "--CopilotGuard:Graph:Enabled=true",
                "--CopilotGuard:Graph:PrincipalIdPattern=^bob$",
                "--CopilotGuard:EntitlementCache:TimeToLive=00:00:00",
                "--CopilotGuard:EntitlementCache:MaxStaleness=00:00:00",
            ],
            builder => builder.Services.AddSingleton(new GraphTransportOverride(Graph, new StaticToken())));
        await _app.StartAsync();
        Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        Client = new HttpClient { BaseAddress = new Uri(_app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single()) };
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

    public Task<HttpResponseMessage> RetrieveAsync(string user)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/retrieve", UriKind.Relative)) { Content = JsonContent.Create(new { query = "POS terminal outage", top = 5, destination = "internal" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Runtime.Issuer.CreateToken(user));
        return Client.SendAsync(request);
    }

    internal sealed class StaticToken : IAuthenticationProvider
    {
        public Task AuthenticateRequestAsync(RequestInformation request, Dictionary<string, object>? additionalAuthenticationContext = null, CancellationToken cancellationToken = default)
        {
            request.Headers.Add("Authorization", "Bearer graph-app-token");
            return Task.CompletedTask;
        }
    }

    /// <summary>Answers /users/bob and its transitive groups, or fails, as the test decides.</summary>
    public sealed class FakeGraph : HttpMessageHandler
    {
        public HttpStatusCode? FailWith { get; set; }

        public List<string> Paths { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Paths)
            {
                Paths.Add(request.RequestUri!.AbsolutePath);
            }

            if (FailWith is { } status)
            {
                var failure = new HttpResponseMessage(status) { Content = Json("{\"error\":{\"code\":\"" + (status == HttpStatusCode.NotFound ? "Request_ResourceNotFound" : "serviceNotAvailable") + "\",\"message\":\"x\"}}") };
                failure.Headers.TryAddWithoutValidation("Retry-After", "120");
                return Task.FromResult(failure);
            }

            var body = request.RequestUri!.AbsolutePath.EndsWith("/transitiveMemberOf", StringComparison.Ordinal)
                ? """{"value":[{"@odata.type":"#microsoft.graph.group","id":"g-support","displayName":"support"}]}"""
                : """{"id":"bob","displayName":"Bob Martinez","accountEnabled":true,"department":"Support","jobTitle":"Senior Support Engineer","country":"US","employeeType":"Employee"}""";
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = Json(body) });
        }

        private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
    }
}

public sealed class GraphEntitlementsHttpTests(GraphServerFixture server) : IClassFixture<GraphServerFixture>
{
    [Fact]
    public async Task Retrieve_GraphAnswers_UsesItsEntitlements()
    {
        server.Graph.FailWith = null;

        using var response = await server.RetrieveAsync("bob");

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync() + string.Join(" ", server.Graph.Paths));
        Assert.Contains("/v1.0/users/bob", server.Graph.Paths);
        Assert.Contains("/v1.0/users/bob/transitiveMemberOf", server.Graph.Paths);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData((HttpStatusCode)429)]
    [InlineData(HttpStatusCode.Unauthorized)]
    public async Task Retrieve_GraphFailsPastMaxStaleness_Is503WithNoData(HttpStatusCode failure)
    {
        server.Graph.FailWith = failure;

        using var response = await server.RetrieveAsync("bob");

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("no data was released", text, StringComparison.OrdinalIgnoreCase);
        Assert.False(JsonDocument.Parse(text).RootElement.TryGetProperty("chunks", out _));
        server.Graph.FailWith = null;
    }

    [Fact]
    public async Task Retrieve_UserDeletedInGraph_IsRefusedThoughTheDirectoryListsIt()
    {
        server.Graph.FailWith = HttpStatusCode.NotFound;

        using var response = await server.RetrieveAsync("bob");

        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, await response.Content.ReadAsStringAsync());
        server.Graph.FailWith = null;
        using var carol = await server.RetrieveAsync("carol");
        Assert.Equal(HttpStatusCode.OK, carol.StatusCode);
    }
}
