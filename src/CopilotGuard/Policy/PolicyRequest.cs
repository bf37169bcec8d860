using CopilotGuard.Filtering;

namespace CopilotGuard.Policy;

/// <summary>The <c>request.*</c> attributes a decision is made with, built the same way by retrieval, explain,
/// de-anonymization and <c>policy test</c>.</summary>
public static class PolicyRequest
{
    /// <summary>The destination assumed when a request does not declare one.</summary>
    public const string DefaultDestination = "external";

    /// <summary>Builds the <c>request.*</c> attributes of a request.</summary>
    public static AttributeSet Attributes(string? purpose, string? destination)
    {
        var builder = new AttributeSetBuilder().Add("destination", string.IsNullOrWhiteSpace(destination) ? DefaultDestination : destination);
        if (!string.IsNullOrWhiteSpace(purpose))
        {
            builder.Add("purpose", purpose);
        }

        return builder.Build();
    }
}
