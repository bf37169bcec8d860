using System.ComponentModel.DataAnnotations;

namespace CopilotGuard.Retrieval;

/// <summary>Limits of the retrieval broker.</summary>
public sealed class RetrievalBrokerOptions
{
    /// <summary>Gets or sets the largest <c>top</c> a caller may ask for. The default is 50.</summary>
    [Range(1, 1000)]
    public int MaxTop { get; set; } = 50;

    /// <summary>Gets or sets the longest query, in characters. The default is 4,096.</summary>
    [Range(1, 1_000_000)]
    public int MaxQueryLength { get; set; } = 4096;

    /// <summary>Gets or sets how many candidates the broker may examine while the post-filter drops chunks the store
    /// could not filter natively. The default is 5,000; past it the caller gets fewer than <c>top</c> chunks.</summary>
    [Range(1, 1_000_000)]
    public int MaxCandidates { get; set; } = 5000;

    /// <summary>Gets or sets the roles (values of <c>principal.roles</c>) that may explain other principals' views.
    /// The default is <c>security-admin</c> and <c>compliance-officer</c>.</summary>
    public IList<string> ExplainRoles { get; set; } = ["security-admin", "compliance-officer"];

    /// <summary>Gets or sets the tenant recorded in audit records. The default is <c>default</c>.</summary>
    [Required]
    public string Tenant { get; set; } = "default";

    /// <summary>Gets or sets the token claims that add to a principal's directory attributes (the token-claims
    /// entitlement provider). The default is <c>groups</c> and <c>roles</c>.</summary>
    public IList<string> ClaimAttributes { get; set; } = ["groups", "roles"];
}
