using System.Net;
using System.Text.Json;
using CopilotGuard.Server.Hosting;
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
        var (status, json) = await GetAsync(CopilotGuardHealth.ReadyPath);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", json.GetProperty("status").GetString());
        var checks = Checks(json);
        Assert.Equal(["audit", "identity", "policy", "store", "vault"], checks.Keys.Order(StringComparer.Ordinal));
        Assert.All(checks.Values, static check => Assert.Equal("healthy", check));
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
        var (status, _) = await GetAsync(CopilotGuardHealth.ReadyPath);
        Assert.Equal(HttpStatusCode.OK, status);
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

    private async Task<string> AssertNotReadyAsync(string failing)
    {
        using var response = await server.Client.GetAsync(new Uri(CopilotGuardHealth.ReadyPath, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("unhealthy", json.RootElement.GetProperty("status").GetString());
        var checks = Checks(json.RootElement);
        Assert.Equal("unhealthy", checks[failing]);
        Assert.All(checks.Where(c => c.Key != failing), static c => Assert.Equal("healthy", c.Value));
        return body;
    }

    private async Task AssertReadyAsync()
    {
        var (status, json) = await GetAsync(CopilotGuardHealth.ReadyPath);
        Assert.True(status == HttpStatusCode.OK, json.ToString());
    }

    private async Task AssertLiveAsync()
    {
        var (status, json) = await GetAsync(CopilotGuardHealth.LivePath);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", json.GetProperty("status").GetString());
        Assert.Empty(Checks(json));
    }

    private async Task<(HttpStatusCode Status, JsonElement Json)> GetAsync(string path)
    {
        using var response = await server.Client.GetAsync(new Uri(path, UriKind.Relative));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, json.RootElement.Clone());
    }

    private static Dictionary<string, string> Checks(JsonElement json) =>
        json.GetProperty("checks").EnumerateArray().ToDictionary(static c => c.GetProperty("name").GetString()!, static c => c.GetProperty("status").GetString()!, StringComparer.Ordinal);

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
