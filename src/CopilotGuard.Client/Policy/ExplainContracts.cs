namespace CopilotGuard.Client;

/// <summary>Describes a policy explanation: the body of <c>POST /v1/policy/explain</c>.</summary>
/// <param name="ChunkId">The chunk to explain.</param>
public sealed record ExplainRequest(string ChunkId)
{
    /// <summary>Gets whose view to explain (security admins only). The default is the caller.</summary>
    public string? User { get; init; }

    /// <summary>Gets the agent acting for <see cref="User"/>. The default is none.</summary>
    public string? Agent { get; init; }

    /// <summary>Gets the purpose to evaluate with. The default is none.</summary>
    public string? Purpose { get; init; }

    /// <summary>Gets the destination to evaluate with. The default (none) is treated as external.</summary>
    public string? Destination { get; init; }
}

/// <summary>Holds why a chunk is or is not visible.</summary>
/// <param name="ChunkId">The chunk.</param>
/// <param name="Visible">Whether it is visible.</param>
/// <param name="Reason">The deciding rules, in words.</param>
/// <param name="PolicyVersion">The deciding policy version.</param>
/// <param name="Principals">Rule-by-rule outcomes per principal, when disclosed.</param>
/// <param name="Filters">The residual filter in the policy language and in each store's dialect.</param>
/// <param name="Chunk">The chunk's attributes, for security admins.</param>
public sealed record ExplainResponse(
    string ChunkId,
    bool Visible,
    string Reason,
    string PolicyVersion,
    IReadOnlyList<ExplainedPrincipal>? Principals,
    IReadOnlyDictionary<string, string>? Filters,
    ExplainedChunk? Chunk);

/// <summary>Holds one principal's view in an explanation.</summary>
/// <param name="Id">The principal id.</param>
/// <param name="Kind">The principal kind (<c>user</c> or <c>agent</c>).</param>
/// <param name="Allowed">Whether the principal may see the chunk.</param>
/// <param name="Reason">Why, in words.</param>
/// <param name="Rules">The outcome of each rule.</param>
/// <param name="Residual">The principal's residual filter.</param>
public sealed record ExplainedPrincipal(string Id, string Kind, bool Allowed, string Reason, IReadOnlyList<ExplainedRule> Rules, string Residual);

/// <summary>Holds one rule's outcome: <c>matched</c>, <c>not-matched</c> or <c>undecided</c>.</summary>
/// <param name="Id">The rule id.</param>
/// <param name="Effect">The rule effect (<c>allow</c> or <c>deny</c>).</param>
/// <param name="Match">The outcome.</param>
/// <param name="Description">The rule description, if any.</param>
public sealed record ExplainedRule(string Id, string Effect, string Match, string? Description);

/// <summary>Holds a chunk's policy-relevant attributes.</summary>
/// <param name="Id">The chunk id.</param>
/// <param name="DocumentId">The document id.</param>
/// <param name="Source">The source.</param>
/// <param name="Label">The sensitivity label.</param>
/// <param name="Attributes">The resource attributes.</param>
public sealed record ExplainedChunk(string Id, string DocumentId, string Source, string Label, IReadOnlyDictionary<string, IReadOnlyList<string>> Attributes);
