using CopilotGuard.Identity;
using CopilotGuard.Labels;

namespace CopilotGuard.Testing;

/// <summary>Destination registries for tests that build a broker themselves (a broker given none treats every request
/// as external with ceiling General, as a data folder without destinations.yaml does).</summary>
public static class TestDestinations
{
    /// <summary>The sample's shape: <c>internal</c> up to the highest label, <c>external</c> up to General.</summary>
    public static DestinationRegistry Standard(LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return DestinationRegistry.Parse("standard.yaml", $$"""
            apiVersion: copilotguard/v1
            destinations:
              - { id: internal, kind: internal, ceiling: "{{labels.Highest.Name}}" }
              - { id: external, kind: external }
            """, labels);
    }

    /// <summary>Both destinations open to the highest label (external explicitly allowed above General): for tests of
    /// the policy language against an oracle that knows nothing of ceilings.</summary>
    public static DestinationRegistry Open(LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return DestinationRegistry.Parse("open.yaml", $$"""
            apiVersion: copilotguard/v1
            allowExternalCeilingAbove: true
            destinations:
              - { id: internal, kind: internal, ceiling: "{{labels.Highest.Name}}" }
              - { id: external, kind: external, ceiling: "{{labels.Highest.Name}}" }
            """, labels);
    }
}
