using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary>Starts a real server whose data folder has a retention file, and checks over HTTP that the background service
/// expires a receipt, that the receipt endpoint then says so (410 Gone, naming the retention record), and that the log verifies.</summary>
public sealed class RetentionHttpTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-retention-").FullName;
    private WebApplication _app = null!;
    private HttpClient _client = null!;
    private CopilotGuardRuntime _runtime = null!;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_data, "retention.yaml"), """
            apiVersion: copilotguard/v1
            default: forever
            classes:
              - name: short-lived
                purposes: [retention-test]
                maxAge: PT1S
            """);
        _app = await CopilotGuardServer.BuildAsync(["--data", _data, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
            "--CopilotGuard:Anomaly:Enabled=false", "--CopilotGuard:RateLimits:Enabled=false",
            "--CopilotGuard:Audit:RetentionInterval=00:00:01", "--CopilotGuard:Audit:RetentionFirstRun=00:00:00"]);
        await _app.StartAsync();
        _runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        _client = new HttpClient { BaseAddress = new Uri(_app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single()) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task RetentionService_ShortLivedPurpose_ReceiptEndpointReportsTheExpiry()
    {
        string receiptId, keptId;
        using (var retrieve = await SendAsync(HttpMethod.Post, "/v1/retrieve", "bob", new { query = "vpn setup", purpose = "retention-test", destination = "internal" }))
        {
            Assert.Equal(HttpStatusCode.OK, retrieve.StatusCode);
            receiptId = (await retrieve.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("receiptId").GetString()!;
        }

        using (var retrieve = await SendAsync(HttpMethod.Post, "/v1/retrieve", "bob", new { query = "vpn setup", purpose = "support", destination = "internal" }))
        {
            keptId = (await retrieve.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("receiptId").GetString()!;
        }

        // Only checkpointed entries may expire; anchor the receipts now instead of waiting for the checkpoint interval.
        await _runtime.Audit.CheckpointAsync(CancellationToken.None);

        HttpStatusCode status;
        string body;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        do
        {
            await Task.Delay(500);
            using var receipt = await SendAsync(HttpMethod.Get, $"/v1/audit/receipts/{receiptId}", "cora");
            status = receipt.StatusCode;
            body = await receipt.Content.ReadAsStringAsync();
        }
        while (status == HttpStatusCode.OK && DateTime.UtcNow < deadline);

        Assert.True(status == HttpStatusCode.Gone, $"{(int)status}: {body}");
        using var problem = JsonDocument.Parse(body);
        Assert.Equal("Expired under retention", problem.RootElement.GetProperty("title").GetString());
        Assert.Contains(receiptId, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("short-lived", problem.RootElement.GetProperty("retentionClass").GetString());
        Assert.StartsWith("ret_", problem.RootElement.GetProperty("retentionRecordId").GetString(), StringComparison.Ordinal);

        using (var kept = await SendAsync(HttpMethod.Get, $"/v1/audit/receipts/{keptId}", "cora"))
        {
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        }

        using var verify = await SendAsync(HttpMethod.Get, "/v1/audit/verify", "cora");
        var verification = await verify.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(verification.GetProperty("ok").GetBoolean(), verification.ToString());
        Assert.True(verification.GetProperty("expired").GetInt64() >= 1, verification.ToString());
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string user, object? body = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _runtime.Issuer.CreateToken(user));
        return _client.SendAsync(request);
    }
}
