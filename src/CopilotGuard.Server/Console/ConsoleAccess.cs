using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Server.Hosting;
using CopilotGuard.Server.Identity;

namespace CopilotGuard.Server.ComplianceConsole;

/// <summary>Lets a compliance officer run a console query, appending an <c>audit-query</c> record first, as the audit API does.</summary>
/// <remarks>Mirrors <see cref="AuditService"/>'s own check (same roles, same gates, same record shape, no agents), so a
/// console query is refused or allowed exactly like <c>GET /v1/audit/*</c>. The record is written before any data is
/// read, and a failed write refuses the query (fail closed).</remarks>
internal static class ConsoleAccess
{
    private static readonly IReadOnlyList<string> ComplianceRoles = [.. new AuditServiceOptions().ComplianceRoles];

    /// <summary>Audits and authorizes one console query about <paramref name="target"/>; returns the requester's id.</summary>
    /// <exception cref="RetrievalException">The caller is not a compliance officer (403), is suspended or throttled, or the record could not be written.</exception>
    public static async Task<string> AuthorizeAsync(HttpContext context, CopilotGuardRuntime runtime, string target, CancellationToken cancellationToken)
    {
        var identity = DevelopmentIssuer.ReadCaller(context.User)
            ?? throw new RetrievalException(RetrievalErrorKind.Forbidden, "The token does not name a caller (sub) or has a malformed act claim.");
        var principals = await runtime.Broker.ResolveCallerAsync(identity, cancellationToken).ConfigureAwait(false);
        foreach (var gate in runtime.Broker.Gates)
        {
            await gate.CheckAsync(principals, new AccessRequest("audit-query", "compliance", "internal"), cancellationToken).ConfigureAwait(false);
        }

        var allowed = principals.Actor is null
            && principals.Subject.Attributes.TryGet("roles", out var roles)
            && roles.Any(static role => role.Kind == AttributeKind.String && ComplianceRoles.Contains(role.Text, StringComparer.Ordinal));
        var record = new AuditRecord
        {
            RecordId = "aq_" + Guid.CreateVersion7().ToString("N"),
            Kind = AuditRecordKinds.AuditQuery,
            Time = DateTimeOffset.UtcNow,
            SubjectId = principals.Subject.Id,
            ActorId = principals.Actor?.Id,
            ClientAddress = context.Connection.RemoteIpAddress?.ToString(),
            Purpose = "compliance",
            PolicyVersion = runtime.Broker.Policy.Version,
            PolicyHash = runtime.Broker.Policy.Sha256,
            Decision = allowed ? "allowed" : "denied",
            Target = "console:" + target,
        };
        try
        {
            await runtime.Audit.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            throw new RetrievalException(RetrievalErrorKind.AuditUnavailable, "The audit record could not be written, so the request was refused.", exception);
        }

        return allowed
            ? principals.Subject.Id
            : throw new RetrievalException(RetrievalErrorKind.Forbidden, $"Only principals with one of the roles {string.Join(", ", ComplianceRoles)}, acting without an agent, may query the audit log.");
    }
}
