using System.Net;
using System.Text.Json;
using CopilotGuard.Hosting;
using CopilotGuard.Server.Tests.Hardening;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>A readiness signal the tests flip, standing in for a policy reloader's status.</summary>
public sealed class TestReadinessSignal : ReadinessSignal;

/// <summary>The embedded default with a readiness signal named <c>policy</c> registered, as a live policy reloader would.</summary>
public sealed class HealthServerFixture : StoreServerFixture
{
    public override string StoreName => "sqlite";

    protected override CopilotGuardServerOptions ServerOptions => new()
    {
        Configure = static builder => builder.Services.AddCopilotGuardReadinessSignal<TestReadinessSignal>("policy"),
    };

    protected override Task<string[]> StartProvidersAsync() => Task.FromResult<string[]>([]);
}

/// <summary>Issue 17, operating it: liveness and readiness answer from real checks of the store, the audit log, the
/// vault and the identity key, each broken for real under a running server.</summary>
public sealed class HealthCheckTests(HealthServerFixture server) : IClassFixture<HealthServerFixture>
{
    [Fact]
    public async Task Ready_HealthyServer_Is200_WithEveryCheckHealthy()
    {
        var answer = await Readiness.GetAsync(server.Client, CopilotGuardHealth.ReadyPath);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("healthy", answer.Overall);
        Assert.Equal(["audit", "identity", "policy", "policy-reload", "store", "vault"], answer.Checks.Keys.Order(StringComparer.Ordinal));
        Assert.All(answer.Checks.Values, static check => Assert.Equal("healthy", check));
    }

    [Fact]
    public async Task Healthz_IsUnchanged()
    {
        using var response = await server.Client.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"status":"ok"}""", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Ready_LeavesNoAuditRecord_AndNeedsNoToken()
    {
        var audit = new AuditProbe(server);
        var mark = await audit.MarkAsync();
        await AssertReadyAsync();
        Assert.Empty(await audit.SinceAsync(mark));
    }

    [Fact]
    public async Task StoreBroken_ReadyIs503NamingStore_LiveIs200()
    {
        await WhileRenamedAsync("store.db", "chunks", async () =>
        {
            var json = await AssertNotReadyAsync("store");
            Assert.DoesNotContain("no such table", json, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(server.DataPath, json, StringComparison.Ordinal);
            await AssertLiveAsync();
        });
        await AssertReadyAsync();
    }

    [Fact]
    public async Task AuditTableGone_ReadyIs503NamingAudit()
    {
        await WhileRenamedAsync("audit.db", "audit_log", async () =>
        {
            await AssertNotReadyAsync("audit");
            await AssertLiveAsync();
        });
        await AssertReadyAsync();
    }

    [Fact]
    public async Task AuditWriteLockHeldElsewhere_ReadyIs503NamingAudit()
    {
        // Another writer holds audit.db's write lock past the probe's busy timeout: a read would still pass, a write cannot.
        await using (var holder = new SqliteConnection($"Data Source={Path.Combine(server.DataPath, "audit.db")};Pooling=False"))
        {
            await holder.OpenAsync();
            await using var transaction = holder.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);
            await AssertNotReadyAsync("audit");
            await AssertLiveAsync();
            await transaction.RollbackAsync();
        }

        await AssertReadyAsync();
    }

    [Fact]
    public async Task VaultBroken_ReadyIs503NamingVault()
    {
        await WhileRenamedAsync("vault.db", "pseudonyms", () => AssertNotReadyAsync("vault"));
        await AssertReadyAsync();
    }

    [Fact]
    public async Task ReadinessSignalNotReady_ReadyIs503NamingIt()
    {
        var signal = server.Services.GetRequiredService<TestReadinessSignal>();
        signal.ReportNotReady("The last policy reload failed.");
        try
        {
            var json = await AssertNotReadyAsync("policy");
            Assert.Contains("The last policy reload failed.", json, StringComparison.Ordinal);
            await AssertLiveAsync();
        }
        finally
        {
            signal.ReportReady();
        }

        await AssertReadyAsync();
    }

    private Task<string> AssertNotReadyAsync(string failing) => Readiness.AssertOnlyFailingAsync(server.Client, failing);

    private Task AssertReadyAsync() => Readiness.AssertReadyAsync(server.Client);

    private Task AssertLiveAsync() => Readiness.AssertLiveAsync(server.Client);

    private async Task WhileRenamedAsync(string file, string table, Func<Task> body)
    {
        await RenameAsync(file, table, table + "_gone");
        try
        {
            await body();
        }
        finally
        {
            await RenameAsync(file, table + "_gone", table);
        }
    }

    private async Task RenameAsync(string file, string from, string to)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(server.DataPath, file)};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"ALTER TABLE {from} RENAME TO {to};";
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>Reads the health answers: overall status, each check's status, and the body as sent.</summary>
public static class Readiness
{
    public static async Task<(HttpStatusCode Status, string Overall, Dictionary<string, string> Checks, string Body)> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        var checks = json.RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(static c => c.GetProperty("name").GetString()!, static c => c.GetProperty("status").GetString()!, StringComparer.Ordinal);
        return (response.StatusCode, json.RootElement.GetProperty("status").GetString()!, checks, body);
    }

    /// <summary>Asserts readiness is 503 with exactly <paramref name="failing"/> unhealthy; returns the body.</summary>
    public static async Task<string> AssertOnlyFailingAsync(HttpClient client, string failing)
    {
        var answer = await GetAsync(client, CopilotGuardHealth.ReadyPath);
        Assert.True(answer.Status == HttpStatusCode.ServiceUnavailable, answer.Body);
        Assert.Equal("unhealthy", answer.Overall);
        Assert.Equal("unhealthy", answer.Checks[failing]);
        Assert.All(answer.Checks.Where(c => c.Key != failing), static c => Assert.Equal("healthy", c.Value));
        return answer.Body;
    }

    public static async Task AssertReadyAsync(HttpClient client)
    {
        var answer = await GetAsync(client, CopilotGuardHealth.ReadyPath);
        Assert.True(answer.Status == HttpStatusCode.OK, answer.Body);
        Assert.Equal("healthy", answer.Overall);
    }

    public static async Task AssertLiveAsync(HttpClient client)
    {
        var answer = await GetAsync(client, CopilotGuardHealth.LivePath);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("healthy", answer.Overall);
        Assert.Empty(answer.Checks);
    }
}
