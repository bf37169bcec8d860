using System.Net;
using CopilotGuard.Audit;
using CopilotGuard.Server.Hosting;

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
