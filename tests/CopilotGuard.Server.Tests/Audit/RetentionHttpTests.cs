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
using Microsoft.Extensions.Logging;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary>Starts a real server whose data folder has a retention file, and checks over HTTP that the background service
/// expires a receipt, that the receipt endpoint then says so (410 Gone, naming the retention record), and that the log verifies.</summary>
public sealed class RetentionHttpTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-retention-").FullName;
    private WebApplication _app = null!;
    private HttpClient _client = null!;
    private CopilotGuardRuntime _runtime = null!;
    private readonly RetentionRunSignal _expired = new();

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
            "--CopilotGuard:Audit:RetentionInterval=00:00:01", "--CopilotGuard:Audit:RetentionFirstRun=00:00:00"],
            builder =>
            {
                builder.Logging.AddProvider(_expired);
                builder.Logging.AddFilter<RetentionRunSignal>("CopilotGuard", LogLevel.Information);
            });
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

        // The entry can expire only once it is older than its class's maximum age (1 s): wait for the background run that
        // expires it (the service logs each run that expired entries), with a deadline, then ask the endpoint once.
        await _expired.Expired.WaitAsync(TimeSpan.FromSeconds(90));
        HttpStatusCode status;
        string body;
        using (var receipt = await SendAsync(HttpMethod.Get, $"/v1/audit/receipts/{receiptId}", "cora"))
        {
            status = receipt.StatusCode;
            body = await receipt.Content.ReadAsStringAsync();
        }

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

    /// <summary>Completes when the retention service logs a run that expired entries.</summary>
    private sealed class RetentionRunSignal : ILoggerProvider, ILogger
    {
        private readonly TaskCompletionSource _expired = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Expired => _expired.Task;

        public ILogger CreateLogger(string categoryName) => categoryName.EndsWith(".AuditRetentionService", StringComparison.Ordinal) ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (formatter(state, exception).StartsWith("Audit retention expired", StringComparison.Ordinal))
            {
                _expired.TrySetResult();
            }
        }

        public void Dispose()
        {
        }
    }
}
