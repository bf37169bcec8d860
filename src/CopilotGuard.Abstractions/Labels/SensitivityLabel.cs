using CopilotGuard.Filtering;

namespace CopilotGuard.Labels;

/// <summary>One sensitivity label of the taxonomy; labels compare by <see cref="Rank"/>.</summary>
/// <param name="Name">The label name used in policies and label files, e.g. <c>Confidential</c>.</param>
/// <param name="Rank">The position in the taxonomy; higher is more sensitive.</param>
/// <param name="PurviewLabelId">The Microsoft Purview sensitivity label id this label maps to, if any.</param>
public sealed record SensitivityLabel(string Name, int Rank, string? PurviewLabelId = null)
{
    /// <summary>Returns the label as an attribute value that compares by rank.</summary>
    public AttributeValue ToAttributeValue() => AttributeValue.FromLabel(Name, Rank);

    /// <inheritdoc />
    public override string ToString() => Name;
}
