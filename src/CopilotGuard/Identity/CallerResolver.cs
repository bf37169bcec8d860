using CopilotGuard.Filtering;

namespace CopilotGuard.Identity;

/// <summary>Turns a caller's identity (a token's subject, actor and claims) into the principals the policy evaluates:
/// the one resolution path shared by retrieval, <c>policy explain</c> and <c>policy test</c>.</summary>
/// <remarks>
/// The entitlement provider is whatever the deployment composed (directory file, Microsoft Graph behind its cache,
/// narrowed by the agent registry); the token's entitlement claims (only <see cref="ClaimAttributes"/>) are added to
/// the subject. An unknown subject, an unknown or unregistered agent, an agent as the subject of a delegated request,
/// and unreachable entitlements are refusals: nothing is resolved partially.
/// </remarks>
public sealed class CallerResolver
{
    private readonly IEntitlementProvider _entitlements;
    private readonly string[] _claimAttributes;

    /// <summary>Creates the resolver over an entitlement provider.</summary>
    /// <param name="entitlements">The provider principals are resolved with.</param>
    /// <param name="claimAttributes">The token claims that add to the subject's attributes; none when <see langword="null"/>.</param>
    public CallerResolver(IEntitlementProvider entitlements, IEnumerable<string>? claimAttributes = null)
    {
        _entitlements = entitlements ?? throw new ArgumentNullException(nameof(entitlements));
        _claimAttributes = claimAttributes?.Where(static name => name is not "id" and not "kind").Distinct(StringComparer.Ordinal).ToArray() ?? [];
    }

    /// <summary>Gets the entitlement provider principals are resolved with.</summary>
    public IEntitlementProvider Entitlements => _entitlements;

    /// <summary>Gets the token claims that add to the subject's attributes.</summary>
    public IReadOnlyList<string> ClaimAttributes => _claimAttributes;

    /// <summary>Resolves the caller's principals, failing closed on unknown principals or unreachable entitlements.</summary>
    /// <exception cref="GuardException">The caller or its agent is unknown (<see cref="GuardErrorKind.Forbidden"/>),
    /// or entitlements are unavailable (<see cref="GuardErrorKind.EntitlementsUnavailable"/>).</exception>
    public async Task<CallerPrincipals> ResolveAsync(CallerIdentity caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var subject = await ResolveAsync(caller.SubjectId, cancellationToken).ConfigureAwait(false)
            ?? throw new GuardException(GuardErrorKind.Forbidden, $"Principal '{caller.SubjectId}' is not in the directory.");
        subject = WithTokenClaims(subject, caller.SubjectClaims);
        if (subject.Kind == PrincipalKind.Agent && caller.ActorId is not null)
        {
            throw new GuardException(GuardErrorKind.Forbidden, "An agent cannot be the subject of a delegated request.");
        }

        if (caller.ActorId is null)
        {
            return new CallerPrincipals(subject);
        }

        var actor = await ResolveAsync(caller.ActorId, cancellationToken).ConfigureAwait(false);
        if (actor is not { Kind: PrincipalKind.Agent })
        {
            throw new GuardException(GuardErrorKind.Forbidden, $"Agent '{caller.ActorId}' is not a registered agent.");
        }

        return new CallerPrincipals(subject, actor);
    }

    /// <summary>Adds the token's entitlement claims (only the names in <see cref="ClaimAttributes"/>) to a principal
    /// resolved from the directory: the token provider composed with the directory provider.</summary>
    /// <remarks>Claims only add values; they never remove what the directory grants, and never set id or kind.</remarks>
    private Principal WithTokenClaims(Principal principal, AttributeSet claims)
    {
        if (claims.Count == 0)
        {
            return principal;
        }

        var attributes = principal.Attributes;
        foreach (var (name, values) in claims)
        {
            if (!_claimAttributes.Contains(name, StringComparer.Ordinal))
            {
                continue;
            }

            var merged = attributes.TryGet(name, out var existing) ? existing : [];
            merged = [.. merged, .. values.Where(value => !merged.Any(m => m.Kind == value.Kind && m.ValueEquals(value)))];
            attributes = attributes.With(name, merged);
        }

        return ReferenceEquals(attributes, principal.Attributes) ? principal : principal with { Attributes = attributes };
    }

    private async Task<Principal?> ResolveAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            return await _entitlements.ResolveAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (EntitlementUnavailableException exception)
        {
            throw new GuardException(GuardErrorKind.EntitlementsUnavailable, $"Entitlements for '{id}' could not be resolved, so no data was released.", exception);
        }
    }
}
