using System.Collections.Frozen;
using System.Collections.Immutable;

namespace CopilotGuard.Labels;

/// <summary>An ordered set of sensitivity labels, from least to most sensitive.</summary>
public sealed class LabelTaxonomy
{
    private readonly FrozenDictionary<string, SensitivityLabel> _byName;
    private readonly FrozenDictionary<string, SensitivityLabel> _byPurviewId;

    /// <summary>Creates a taxonomy from labels in increasing sensitivity.</summary>
    /// <exception cref="ArgumentException">A name is empty or repeated.</exception>
    public LabelTaxonomy(IEnumerable<string> orderedNames)
        : this((orderedNames ?? throw new ArgumentNullException(nameof(orderedNames))).Select(static (name, index) => new SensitivityLabel(name, index)))
    {
    }

    /// <summary>Creates a taxonomy from labels (sublabels included) with their ranks.</summary>
    /// <exception cref="ArgumentException">A name or Purview id is empty or repeated, or a sublabel's parent is missing.</exception>
    public LabelTaxonomy(IEnumerable<SensitivityLabel> labelsWithRanks)
    {
        ArgumentNullException.ThrowIfNull(labelsWithRanks);
        var labels = labelsWithRanks.OrderBy(static label => label.Rank).ThenBy(static label => label.Parent is null ? 0 : 1).ToImmutableArray();
        if (labels.IsEmpty)
        {
            throw new ArgumentException("A label taxonomy needs at least one label.", nameof(labelsWithRanks));
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var label in labels)
        {
            if (string.IsNullOrWhiteSpace(label.Name))
            {
                throw new ArgumentException("Label names must not be empty.", nameof(labelsWithRanks));
            }

            if (!seen.Add(label.Name))
            {
                throw new ArgumentException($"Label '{label.Name}' is listed twice.", nameof(labelsWithRanks));
            }
        }

        foreach (var label in labels.Where(static label => label.Parent is not null))
        {
            if (!labels.Any(parent => parent.Parent is null && string.Equals(parent.Name, label.Parent, StringComparison.OrdinalIgnoreCase) && parent.Rank == label.Rank))
            {
                throw new ArgumentException($"Sublabel '{label.Name}' names parent '{label.Parent}', which is not a top-level label of the same rank.", nameof(labelsWithRanks));
            }
        }

        var purview = labels.Where(static label => label.PurviewLabelId is not null).ToList();
        if (purview.GroupBy(static label => label.PurviewLabelId, StringComparer.OrdinalIgnoreCase).FirstOrDefault(static group => group.Count() > 1) is { } repeated)
        {
            throw new ArgumentException($"Purview label id '{repeated.Key}' is mapped to more than one label.", nameof(labelsWithRanks));
        }

        _byPurviewId = purview.ToFrozenDictionary(static label => label.PurviewLabelId!, StringComparer.OrdinalIgnoreCase);

        Labels = labels;
        _byName = labels.ToFrozenDictionary(static label => label.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Gets the default taxonomy: Public &lt; General &lt; Confidential &lt; Highly Confidential.</summary>
    public static LabelTaxonomy Default { get; } = new(["Public", "General", "Confidential", "Highly Confidential"]);

    /// <summary>Gets the labels from least to most sensitive.</summary>
    public ImmutableArray<SensitivityLabel> Labels { get; }

    /// <summary>Gets the most sensitive label (the top-level one).</summary>
    public SensitivityLabel Highest => Labels.Last(static label => label.Parent is null);

    /// <summary>Finds the label a Microsoft Purview sensitivity label id maps to.</summary>
    public bool TryGetByPurviewId(string purviewLabelId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SensitivityLabel? label) =>
        _byPurviewId.TryGetValue(purviewLabelId, out label);

    /// <summary>Finds a label by name (case-insensitive).</summary>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SensitivityLabel? label) =>
        _byName.TryGetValue(name, out label);

    /// <summary>Gets a label by name.</summary>
    /// <exception cref="KeyNotFoundException">The label is not in the taxonomy.</exception>
    public SensitivityLabel Get(string name) =>
        TryGet(name, out var label)
            ? label
            : throw new KeyNotFoundException($"Unknown sensitivity label '{name}'. Known labels: {string.Join(", ", Labels)}.");
}
