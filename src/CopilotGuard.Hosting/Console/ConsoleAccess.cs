using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;

namespace CopilotGuard.Hosting.ComplianceConsole;

/// <summary>Lets a compliance officer run a console query, through the audit API's own check.</summary>
/// <remarks>Delegates to <see cref="AuditService.AuthorizeAsync(AuditRequester, string, CancellationToken)"/> (same roles, same gates, same record, no agents), so a
/// console query is refused or allowed exactly like <c>GET /v1/audit/*</c>. The record is written before any data is
/// read, and a failed write refuses the query (fail closed).</remarks>
internal static class ConsoleAccess
{
    /// <summary>Audits and authorizes one console query about <paramref name="target"/>; returns the requester's id.</summary>
    /// <exception cref="GuardException">The caller is not a compliance officer (403), is suspended or throttled, or the record could not be written.</exception>
    public static async Task<string> AuthorizeAsync(HttpContext context, AuditService audit, string target, CancellationToken cancellationToken)
    {
        var identity = DevelopmentIssuer.ReadCaller(context.User)
            ?? throw new GuardException(GuardErrorKind.Forbidden, DevelopmentIssuer.MissingCallerMessage);
        await audit.AuthorizeAsync(new AuditRequester(identity, ClientAddress: context.Connection.RemoteIpAddress?.ToString()), "console:" + target, cancellationToken).ConfigureAwait(false);
        return identity.SubjectId;
    }

    /// <summary>Audits and authorizes a Labels-view query: compliance officers see every source; a data owner (the
    /// owner of a source, or a <c>data-owner</c> with <c>ownedSources</c>) sees only the sources it owns.</summary>
    /// <returns><see langword="null"/> for a compliance officer (no restriction), otherwise the sources the caller owns.</returns>
    /// <exception cref="GuardException">The caller owns no source and is not a compliance officer (403), or the record could not be written.</exception>
    public static async Task<IReadOnlySet<string>?> AuthorizeLabelsAsync(HttpContext context, RetrievalBroker broker, AuditService audit, ConsoleReadModel model, string target, CancellationToken cancellationToken)
    {
        var identity = DevelopmentIssuer.ReadCaller(context.User)
            ?? throw new GuardException(GuardErrorKind.Forbidden, DevelopmentIssuer.MissingCallerMessage);
        var principals = await broker.ResolveCallerAsync(identity, cancellationToken).ConfigureAwait(false);
        var owned = new HashSet<string>(await model.GetOwnedSourcesAsync(principals.Subject.Id, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal);
        if (principals.Subject.Attributes.TryGet("roles", out var roles) && roles.Any(static r => r.Text == "data-owner")
            && principals.Subject.Attributes.TryGet("ownedSources", out var sources))
        {
            owned.UnionWith(sources.Select(static s => s.Text));
        }

        var compliance = await audit.AuthorizeAsync(
            new AuditRequester(identity, ClientAddress: context.Connection.RemoteIpAddress?.ToString()),
            "console:" + target,
            _ => owned.Count > 0,
            cancellationToken).ConfigureAwait(false);
        return compliance ? null : owned;
    }
}
