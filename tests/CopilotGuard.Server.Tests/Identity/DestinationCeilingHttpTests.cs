using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests.Identity;

/// <summary>The real server over a data folder whose bundle allows everything and has no external-ceiling rule: the
/// destination's ceiling alone keeps everything above General from an unregistered destination.</summary>
public sealed class DestinationCeilingHttpTests(DestinationCeilingHttpTests.OpenBundleServer server) : IClassFixture<DestinationCeilingHttpTests.OpenBundleServer>
{
    private static readonly string[] AtMostGeneral = ["Public", "General"];

    [Theory]
    [InlineData("some-vendor")]
    [InlineData(null)]
    public async Task Retrieve_UnregisteredOrNoDestination_GetsNothingAboveGeneral(string? destination)
    {
        var internalLabels = await LabelsAsync("dana", "internal");
        var labels = await LabelsAsync("dana", destination);

        // The bundle releases Confidential and Highly Confidential chunks internally; the destination does not.
        Assert.Contains(internalLabels, static l => !AtMostGeneral.Contains(l));
        Assert.NotEmpty(labels);
        Assert.All(labels, static l => Assert.Contains(l, AtMostGeneral));
    }

    [Fact]
    public async Task Retrieve_UnregisteredDestination_IsAuditedAsTheDestinationItWasTreatedAs()
    {
        using var response = await server.PostAsync("/v1/retrieve", server.Runtime.Issuer.CreateToken("dana", null), new { query = "patient follow-up notes", top = 5, destination = "some-vendor" });
        var body = await ReadAsync(response);
        var record = (await server.Runtime.Audit.GetAsync(body.GetProperty("receiptId").GetString()!, CancellationToken.None))!.Record;

        Assert.Equal("external", record.Destination);

        // The bundle alone decides "all"; the ceiling makes it a filter, pushed into the store's query.
        Assert.Equal("filtered", record.Decision);
        Assert.False(string.IsNullOrEmpty(record.PushedFilter));
        Assert.True(record.PushdownExact);
    }

    [Fact]
    public async Task Explain_ChunkAboveGeneral_IsNotVisibleToAnUnregisteredDestination()
    {
        var token = server.Runtime.Issuer.CreateToken("dana", null);
        using var retrieved = await server.PostAsync("/v1/retrieve", token, new { query = "patient follow-up notes", top = 20, destination = "internal" });
        var chunk = (await ReadAsync(retrieved)).GetProperty("chunks").EnumerateArray().First(static c => !AtMostGeneral.Contains(c.GetProperty("label").GetString()));
        var chunkId = chunk.GetProperty("id").GetString();

        using var @internal = await server.PostAsync("/v1/policy/explain", token, new { chunkId, destination = "internal" });
        using var vendor = await server.PostAsync("/v1/policy/explain", token, new { chunkId, destination = "some-vendor" });

        Assert.True((await ReadAsync(@internal)).GetProperty("visible").GetBoolean());
        Assert.False((await ReadAsync(vendor)).GetProperty("visible").GetBoolean());
    }

    private async Task<List<string>> LabelsAsync(string user, string? destination)
    {
        var labels = new List<string>();
        foreach (var query in (string[])["patient follow-up notes", "salary bands and payroll", "card transactions fraud", "POS terminals offline", "spring campaign plan"])
        {
            using var response = await server.PostAsync("/v1/retrieve", server.Runtime.Issuer.CreateToken(user, null), new { query, top = 20, destination });
            labels.AddRange((await ReadAsync(response)).GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("label").GetString()!));
        }

        return labels;
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The real server over a folder seeded with the samples, except for a bundle that allows everything.</summary>
    public sealed class OpenBundleServer : IAsyncLifetime
    {
        private WebApplication? _app;

        public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-destinations-").FullName;

        public HttpClient Client { get; private set; } = null!;

        public CopilotGuardRuntime Runtime { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Directory.CreateDirectory(Path.Combine(DataPath, "policies"));
            await File.WriteAllTextAsync(Path.Combine(DataPath, "policies", "open.yaml"), """
                apiVersion: copilotguard/v1
                version: "open-1"
                rules:
                  - id: everything-for-everyone
                    effect: allow
                    when: "true"
                """);
            _app = await CopilotGuardServer.BuildAsync([
                "--data", DataPath,
                "--urls", "http://127.0.0.1:0",
                "--Logging:LogLevel:Default=Warning",
                "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
                "--CopilotGuard:Anomaly:Enabled=false",
                "--CopilotGuard:RateLimits:Enabled=false",
            ]);
            await _app.StartAsync();
            Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
            Assert.True(File.Exists(Runtime.Data.DestinationsPath), "the sample destinations are seeded into the data folder");
            var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
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
        }

        public Task<HttpResponseMessage> PostAsync(string path, string token, object body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return Client.SendAsync(request);
        }
    }
}
