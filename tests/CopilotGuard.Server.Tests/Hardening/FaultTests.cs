using System.Net;
using CopilotGuard.Audit;
using CopilotGuard.Hosting;

namespace CopilotGuard.Server.Tests.Hardening;

/// <summary>A server whose broker's audit log can be made to fail on demand (a full or read-only disk).</summary>
public sealed class FailingAuditServerFixture : StoreServerFixture
{
    public FailingAuditLog? Failing { get; private set; }

    public override string StoreName => "sqlite";

    protected override CopilotGuardServerOptions ServerOptions => new() { DecorateBrokerAudit = inner => Failing = new FailingAuditLog(inner) };

    protected override Task<string[]> StartProvidersAsync() => Task.FromResult<string[]>([]);
}

/// <summary>Fails every append while <see cref="Failing"/> is set, as an unwritable database would.</summary>
public sealed class FailingAuditLog(IAuditLog inner) : IAuditLog
{
    public volatile bool Failing;

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken) =>
        Failing ? throw new IOException("attempt to write a readonly database") : inner.AppendAsync(record, cancellationToken);

    public Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken) => inner.GetAsync(recordId, cancellationToken);

    public Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken) => inner.VerifyAsync(cancellationToken);
}

/// <summary>Issue 16, faults: the audit log cannot be written, so the retrieval is refused with 503, no chunk leaves,
/// and the refusal itself is recorded once (through the runtime's own log, which the failing decorator does not wrap).</summary>
public sealed class FaultTests(FailingAuditServerFixture server) : IClassFixture<FailingAuditServerFixture>
{
    [Fact]
    public async Task AuditUnwritable_Retrieval_Is503_NoChunkLeaves_OneRefusalRecorded()
    {
        var audit = new AuditProbe(server);
        server.Failing!.Failing = true;
        try
        {
            var (status, body, records) = await audit.SendAsync(AuditProbe.Request(HttpMethod.Post, "/v1/retrieve", server.Token("carol"), """{"query":"brand guidelines","destination":"internal"}"""));
            Assert.Equal((int)HttpStatusCode.ServiceUnavailable, status);
            Assert.DoesNotContain("\"chunks\"", body, StringComparison.Ordinal);
            Assert.DoesNotContain("readonly database", body, StringComparison.Ordinal);
            var record = Assert.Single(records).Record;
            Assert.Equal(("refused", "unavailable", "carol"), (record.Kind, record.Decision, record.SubjectId));
        }
        finally
        {
            server.Failing.Failing = false;
        }

        using var healthy = await server.PostRetrieveAsync(server.Token("carol"), new { query = "brand guidelines", destination = "internal" });
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
    }
}

/// <summary>Issue 16, faults: the chunk store and the pseudonym vault fail under a running server, for real (a table
/// they read disappears from the SQLite file, as a broken or half-restored database would look): the request is refused
/// with 503, nothing is released, the refusal is recorded once, and the server answers again once the table is back.</summary>
public sealed class StoreAndVaultFaultTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task StoreFails_Retrieval_Is503_NothingReleased_OneRefusalRecorded()
    {
        await AssertRefusedWhileBrokenAsync("store.db", "meta", "carol", new { query = "brand guidelines", destination = "internal" });
    }

    [Fact]
    public async Task VaultFails_RetrievalThatPseudonymizes_Is503_NothingReleased_OneRefusalRecorded()
    {
        // dana's clinical notes name patients; the sample obligations pseudonymize PERSON for external destinations, and
        // fraud analysts' transactions are pseudonymized whatever the destination: erin's retrieval reads the vault.
        await AssertRefusedWhileBrokenAsync("vault.db", "pseudonyms", "erin", new { query = "card transactions of customers", top = 10, destination = "internal", conversationId = "fault-vault" });
    }

    private async Task AssertRefusedWhileBrokenAsync(string file, string table, string user, object body)
    {
        // The request succeeds (and, for the vault, really uses it) while the file is whole.
        using (var healthy = await server.PostRetrieveAsync(server.Token(user), body))
        {
            Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        }

        var audit = new AuditProbe(server);
        await RenameAsync(file, table, table + "_gone");
        try
        {
            var json = System.Text.Json.JsonSerializer.Serialize(body);
            var (status, text, records) = await audit.SendAsync(AuditProbe.Request(HttpMethod.Post, "/v1/retrieve", server.Token(user), json));
            Assert.Equal((int)HttpStatusCode.ServiceUnavailable, status);
            Assert.DoesNotContain("\"chunks\"", text, StringComparison.Ordinal);
            Assert.DoesNotContain("no such table", text, StringComparison.OrdinalIgnoreCase);
            var record = Assert.Single(records).Record;
            Assert.Equal(("refused", user), (record.Kind, record.SubjectId));
            Assert.Empty(record.Chunks);
        }
        finally
        {
            await RenameAsync(file, table + "_gone", table);
        }

        using var again = await server.PostRetrieveAsync(server.Token(user), body);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    private async Task RenameAsync(string file, string from, string to)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(server.DataPath, file)};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"ALTER TABLE {from} RENAME TO {to};";
        await command.ExecuteNonQueryAsync();
    }
}
