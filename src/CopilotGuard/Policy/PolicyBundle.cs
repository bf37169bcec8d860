using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;

namespace CopilotGuard.Policy;

/// <summary>A validated, immutable set of policy rules, identified by its version and content hash.</summary>
/// <remarks>Default deny; deny overrides allow; when an agent acts for a user, a resource must pass for both.</remarks>
public sealed class PolicyBundle
{
    /// <summary>Creates a bundle.</summary>
    public PolicyBundle(string version, string sha256, ImmutableArray<PolicyRule> rules, LabelTaxonomy labels, ImmutableArray<Obligations.ObligationRule> obligations = default, ImmutableArray<PolicyRule> deanonymization = default)
    {
        Obligations = obligations.IsDefault ? [] : obligations;
        Deanonymization = deanonymization.IsDefault ? [] : deanonymization;
        Version = version ?? throw new ArgumentNullException(nameof(version));
        Sha256 = sha256 ?? throw new ArgumentNullException(nameof(sha256));
        Rules = rules;
        Labels = labels ?? throw new ArgumentNullException(nameof(labels));
        AllowRules = [.. rules.Where(static rule => rule.Effect == PolicyEffect.Allow)];
        DenyRules = [.. rules.Where(static rule => rule.Effect == PolicyEffect.Deny)];
    }

    /// <summary>Gets the bundle version declared by its files.</summary>
    public string Version { get; }

    /// <summary>Gets the SHA-256 of the bundle's files (names and contents), lowercase hex.</summary>
    public string Sha256 { get; }

    /// <summary>Gets every rule.</summary>
    public ImmutableArray<PolicyRule> Rules { get; }

    /// <summary>Gets the obligations (field and anonymization operators) that apply to released chunks.</summary>
    public ImmutableArray<Obligations.ObligationRule> Obligations { get; }

    /// <summary>Gets the grants that let a caller restore pseudonymized values (conditions over principal and request).</summary>
    public ImmutableArray<PolicyRule> Deanonymization { get; }

    /// <summary>Returns the id of the grant that lets the caller de-anonymize (both principals, when delegated), or <see langword="null"/>.</summary>
    /// <remarks>A grant that reads <c>resource.*</c> never matches: there is no resource when restoring an answer.</remarks>
    public string? DeanonymizationGrant(CallerPrincipals caller, AttributeSet request)
    {
        ArgumentNullException.ThrowIfNull(caller);
        string? Grant(Principal principal) => Deanonymization
            .FirstOrDefault(rule => PartialEvaluator.Evaluate(rule.Condition, PrincipalAttributes(principal), request) is ConstantFilter { Value: true })?.Id;
        var subject = Grant(caller.Subject);
        return subject is not null && (caller.Actor is null || Grant(caller.Actor) is not null) ? subject : null;
    }

    /// <summary>Gets the label taxonomy the rules were typed with.</summary>
    public LabelTaxonomy Labels { get; }

    private ImmutableArray<PolicyRule> AllowRules { get; }

    private ImmutableArray<PolicyRule> DenyRules { get; }

    /// <summary>Reduces the bundle to the residual filter over <c>resource.*</c> for a caller and request.</summary>
    /// <remarks>The residual is in negation normal form and simplified; <c>false</c> means no store query is needed.</remarks>
    public FilterNode Decide(CallerPrincipals caller, AttributeSet request)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var subject = Decide(caller.Subject, request);
        return caller.Actor is null ? subject : Filters.And(subject, Decide(caller.Actor, request));
    }

    /// <summary>Reduces the bundle for a caller and names the rules that took part: allow rules that can still grant,
    /// and deny rules that can still deny, for either principal.</summary>
    public FilterNode Decide(CallerPrincipals caller, AttributeSet request, out ImmutableArray<string> decidingRules)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        var subject = Decide(caller.Subject, request, ids);
        var residual = caller.Actor is null ? subject : Filters.And(subject, Decide(caller.Actor, request, ids));
        decidingRules = [.. ids];
        return residual;
    }

    /// <summary>Reduces the bundle to the residual filter for one principal.</summary>
    public FilterNode Decide(Principal principal, AttributeSet request) => Decide(principal, request, decidingRules: null);

    /// <summary>Reduces the bundle for one principal, each rule evaluated once; collects the rules that took part when asked.</summary>
    private FilterNode Decide(Principal principal, AttributeSet request, SortedSet<string>? decidingRules)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(request);
        var attributes = PrincipalAttributes(principal);
        var grants = new List<FilterNode>(AllowRules.Length);
        foreach (var rule in AllowRules)
        {
            var residual = PartialEvaluator.Evaluate(rule.Condition, attributes, request);
            if (residual is not ConstantFilter { Value: false })
            {
                grants.Add(residual);
                decidingRules?.Add(rule.Id);
            }
        }

        var allowed = Filters.Or(grants);
        if (allowed is ConstantFilter { Value: false } && decidingRules is null)
        {
            return allowed;
        }

        var guards = new List<FilterNode>(DenyRules.Length);
        foreach (var rule in DenyRules)
        {
            var notDenied = PartialEvaluator.Evaluate(rule.Condition, attributes, request, negate: true);
            if (notDenied is not ConstantFilter { Value: true })
            {
                guards.Add(notDenied);
                decidingRules?.Add(rule.Id);
            }
        }

        return allowed is ConstantFilter { Value: false } ? allowed : Filters.And(allowed, Filters.And(guards));
    }

    /// <summary>Reduces one rule's condition (or, with <paramref name="negate"/>, its negation) for a principal and request.</summary>
    /// <remarks>The result is true for a resource exactly when the condition is definitely true (or definitely false).</remarks>
    public static FilterNode Residual(PolicyRule rule, Principal principal, AttributeSet request, bool negate = false)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(principal);
        return PartialEvaluator.Evaluate(rule.Condition, PrincipalAttributes(principal), request, negate);
    }

    /// <summary>Reduces any condition (an obligation's, for example) for a principal and request.</summary>
    public static FilterNode Residual(Expression condition, Principal principal, AttributeSet request)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(principal);
        return PartialEvaluator.Evaluate(condition, PrincipalAttributes(principal), request);
    }

    /// <summary>Explains, rule by rule, why a resource is or is not visible to a caller.</summary>
    public PolicyExplanation Explain(CallerPrincipals caller, AttributeSet request, AttributeSet resource)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var principals = caller.Actor is null ? [caller.Subject] : new[] { caller.Subject, caller.Actor };
        var explained = principals.Select(principal => Explain(principal, request, resource)).ToImmutableArray();
        var residual = Decide(caller, request);
        var visible = explained.All(static p => p.Allowed);
        var reason = visible
            ? string.Join("; ", explained.Select(static p => p.Reason))
            : string.Join("; ", explained.Where(static p => !p.Allowed).Select(static p => p.Reason));
        return new PolicyExplanation(visible, reason, explained, residual);
    }

    private PrincipalExplanation Explain(Principal principal, AttributeSet request, AttributeSet resource)
    {
        var rules = ImmutableArray.CreateBuilder<RuleOutcome>(Rules.Length);
        foreach (var rule in Rules)
        {
            var outcome = FilterEvaluator.Matches(Residual(rule, principal, request), resource) ? RuleMatch.Matched
                : FilterEvaluator.Matches(Residual(rule, principal, request, negate: true), resource) ? RuleMatch.NotMatched
                : RuleMatch.Undecided;
            rules.Add(new RuleOutcome(rule.Id, rule.Effect, outcome, rule.Description));
        }

        var outcomes = rules.ToImmutable();
        var allows = outcomes.Where(static r => r.Effect == PolicyEffect.Allow && r.Match == RuleMatch.Matched).Select(static r => r.RuleId).ToList();
        var denies = outcomes.Where(static r => r.Effect == PolicyEffect.Deny && r.Match != RuleMatch.NotMatched).ToList();
        string reason;
        if (denies.Count > 0)
        {
            reason = $"{principal.Id}: " + string.Join(", ", denies.Select(static d => d.Match == RuleMatch.Matched
                ? $"denied by rule '{d.RuleId}'"
                : $"deny rule '{d.RuleId}' could not be decided (a missing attribute), which denies"));
            if (allows.Count == 0)
            {
                reason += ", and no allow rule matched";
            }
        }
        else if (allows.Count == 0)
        {
            reason = $"{principal.Id}: no allow rule matched (default deny)";
        }
        else
        {
            reason = $"{principal.Id}: allowed by rule{(allows.Count > 1 ? "s" : string.Empty)} {string.Join(", ", allows.Select(static a => $"'{a}'"))}";
        }

        return new PrincipalExplanation(principal.Id, principal.Kind, denies.Count == 0 && allows.Count > 0, reason, outcomes, Decide(principal, request));
    }

    /// <summary>Returns the attributes policies see as <c>principal.*</c>: the entitlements plus <c>id</c> and <c>kind</c>.</summary>
    public static AttributeSet PrincipalAttributes(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var attributes = principal.Attributes;
        var kind = principal.Kind switch
        {
            PrincipalKind.User => "user",
            PrincipalKind.Agent => "agent",
            PrincipalKind.Service => "service",
            var other => other.ToString().ToLowerInvariant(),
        };
        if (attributes.TryGet("id", out var ids) && ids is [{ Kind: AttributeKind.String } id] && id.Text == principal.Id
            && attributes.TryGet("kind", out var kinds) && kinds is [{ Kind: AttributeKind.String } k] && k.Text == kind)
        {
            return attributes;
        }

        return attributes.With("id", [AttributeValue.FromString(principal.Id)]).With("kind", [AttributeValue.FromString(kind)]);
    }
}
