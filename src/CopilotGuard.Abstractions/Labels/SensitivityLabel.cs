using CopilotGuard.Filtering;

namespace CopilotGuard.Labels;

/// <summary>One sensitivity label of the taxonomy; labels compare by <see cref="Rank"/>.</summary>
/// <param name="Name">The label name used in policies and label files, e.g. <c>Confidential</c> or, for a sublabel, <c>Confidential/Finance</c>.</param>
/// <param name="Rank">The position in the taxonomy; higher is more sensitive. A sublabel has its parent's rank.</param>
/// <param name="PurviewLabelId">The Microsoft Purview sensitivity label id this label maps to, if any.</param>
public sealed record SensitivityLabel(string Name, int Rank, string? PurviewLabelId = null)
{
    /// <summary>Gets the parent label's name, for a sublabel.</summary>
    public string? Parent { get; init; }

    /// <summary>Gets the name shown to people.</summary>
    public string? DisplayName { get; init; }

    /// <summary>Gets the color used for the label in consoles (e.g. <c>#d32f2f</c>).</summary>
    public string? Color { get; init; }

    /// <summary>Returns the label as an attribute value that compares by rank.</summary>
    public AttributeValue ToAttributeValue() => AttributeValue.FromLabel(Name, Rank);

    /// <inheritdoc />
    public override string ToString() => Name;
}
