using CopilotGuard.Filtering;

namespace CopilotGuard.Identity;

/// <summary>Kinds of callers.</summary>
public enum PrincipalKind
{
    /// <summary>A person.</summary>
    User,

    /// <summary>An AI agent with its own registered identity.</summary>
    Agent,

    /// <summary>A non-interactive service.</summary>
    Service,
}

/// <summary>A resolved caller: its stable id, kind and entitlement attributes.</summary>
/// <param name="Id">The stable directory id (object id), never a display name.</param>
/// <param name="Kind">Whether this is a user, an agent or a service.</param>
/// <param name="Attributes">Entitlement attributes (department, roles, groups, clearance, accounts, ...).</param>
/// <param name="DisplayName">A human-readable name, for consoles only; never used in decisions.</param>
public sealed record Principal(string Id, PrincipalKind Kind, AttributeSet Attributes, string? DisplayName = null);

/// <summary>The authenticated identities of one request, before entitlements are resolved.</summary>
/// <param name="SubjectId">The user (or service) the request is for.</param>
/// <param name="ActorId">The agent acting on behalf of <paramref name="SubjectId"/>, if any.</param>
public sealed record CallerIdentity(string SubjectId, string? ActorId = null)
{
    /// <summary>Gets entitlement attributes carried by the validated token for the subject (e.g. <c>groups</c>,
    /// <c>roles</c>); the broker adds them to what the directory says. Empty when the token carries none.</summary>
    public AttributeSet SubjectClaims { get; init; } = AttributeSet.Empty;

    /// <summary>Returns whether two identities name the same subject and actor, whatever claims they carry.</summary>
    public bool SamePrincipalsAs(CallerIdentity other) =>
        other is not null && SubjectId == other.SubjectId && ActorId == other.ActorId;
}

/// <summary>The resolved principals of one request.</summary>
/// <param name="Subject">The principal the data is for.</param>
/// <param name="Actor">The agent acting for the subject; when set, both must be allowed.</param>
public sealed record CallerPrincipals(Principal Subject, Principal? Actor = null);
