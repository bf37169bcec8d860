using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;

namespace CopilotGuard.Policy;

/// <summary>How one rule's condition came out for a resource.</summary>
public enum RuleMatch
{
    /// <summary>The condition is definitely true.</summary>
    Matched,

    /// <summary>The condition is definitely false.</summary>
    NotMatched,

    /// <summary>The condition cannot be decided because an attribute it reads is missing; a deny rule in this state denies.</summary>
    Undecided,
}

/// <summary>One rule's outcome in an explanation.</summary>
public sealed record RuleOutcome(string RuleId, PolicyEffect Effect, RuleMatch Match, string? Description);

/// <summary>Why a resource is or is not visible to one principal.</summary>
/// <param name="PrincipalId">The principal.</param>
/// <param name="Kind">User, agent or service.</param>
/// <param name="Allowed">Whether this principal may see the resource.</param>
/// <param name="Reason">The deciding rules, in words.</param>
/// <param name="Rules">Every rule's outcome.</param>
/// <param name="Residual">The principal's residual filter.</param>
public sealed record PrincipalExplanation(string PrincipalId, PrincipalKind Kind, bool Allowed, string Reason, ImmutableArray<RuleOutcome> Rules, FilterNode Residual);

/// <summary>Why a resource is or is not visible to a caller (both principals, when an agent acts for a user).</summary>
/// <param name="Visible">Whether the caller may see the resource.</param>
/// <param name="Reason">The deciding rules, in words.</param>
/// <param name="Principals">The explanation per principal.</param>
/// <param name="Residual">The caller's combined residual filter.</param>
public sealed record PolicyExplanation(bool Visible, string Reason, ImmutableArray<PrincipalExplanation> Principals, FilterNode Residual);
