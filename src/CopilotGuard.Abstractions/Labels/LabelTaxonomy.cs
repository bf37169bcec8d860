using System.Collections.Frozen;
using System.Collections.Immutable;

namespace CopilotGuard.Labels;

/// <summary>An ordered set of sensitivity labels, from least to most sensitive.</summary>
public sealed class LabelTaxonomy
{
    private readonly FrozenDictionary<string, SensitivityLabel> _byName;

    /// <summary>Creates a taxonomy from labels in increasing sensitivity.</summary>
    /// <exception cref="ArgumentException">A name is empty or repeated.</exception>
    public LabelTaxonomy(IEnumerable<string> orderedNames)
    {
        ArgumentNullException.ThrowIfNull(orderedNames);
        var labels = orderedNames.Select(static (name, index) => new SensitivityLabel(name, index)).ToImmutableArray();
        if (labels.IsEmpty)
        {
            throw new ArgumentException("A label taxonomy needs at least one label.", nameof(orderedNames));
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var label in labels)
        {
            if (string.IsNullOrWhiteSpace(label.Name))
            {
                throw new ArgumentException("Label names must not be empty.", nameof(orderedNames));
            }

            if (!seen.Add(label.Name))
            {
                throw new ArgumentException($"Label '{label.Name}' is listed twice.", nameof(orderedNames));
            }
        }

        Labels = labels;
        _byName = labels.ToFrozenDictionary(static label => label.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Gets the default taxonomy: Public &lt; General &lt; Confidential &lt; Highly Confidential.</summary>
    public static LabelTaxonomy Default { get; } = new(["Public", "General", "Confidential", "Highly Confidential"]);

    /// <summary>Gets the labels from least to most sensitive.</summary>
    public ImmutableArray<SensitivityLabel> Labels { get; }

    /// <summary>Gets the most sensitive label.</summary>
    public SensitivityLabel Highest => Labels[^1];

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
