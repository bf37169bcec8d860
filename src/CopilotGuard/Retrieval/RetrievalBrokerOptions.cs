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

    /// <summary>Gets or sets how many store round trips the post-filter may trigger to fill <c>top</c>. The default is 4.</summary>
    [Range(1, 64)]
    public int MaxFetchRounds { get; set; } = 4;
}
