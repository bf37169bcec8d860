using System.Collections.Immutable;
using System.Text.RegularExpressions;
using CopilotGuard.Anonymization;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Labeling;

/// <summary>A rule that raises the label of matching chunks at ingestion (a floor: it never lowers a label).</summary>
/// <param name="Id">The rule id.</param>
/// <param name="Condition">The condition over <c>resource.*</c> (source, path, tags, any ingested attribute).</param>
/// <param name="Label">The label matching chunks get at least.</param>
public sealed record LabelRule(string Id, Expression Condition, SensitivityLabel Label);

/// <summary>The label taxonomy and the data owners' labeling rules, from <c>labels.yaml</c>.</summary>
/// <param name="Taxonomy">The ordered labels, with sublabels, colors and Microsoft Purview ids.</param>
/// <param name="Rules">Rules that raise labels at ingestion.</param>
/// <param name="ElevationLabel">The label a chunk is raised to at least when high-risk entities are found in it.</param>
/// <param name="ElevationEntities">The entity types that count as high risk.</param>
public sealed record LabelingPolicy(LabelTaxonomy Taxonomy, ImmutableArray<LabelRule> Rules, SensitivityLabel? ElevationLabel, ImmutableHashSet<string> ElevationEntities)
{
    /// <summary>Gets the default: the built-in taxonomy, no rules, and SSN, card, bank and health identifiers raised to the highest label.</summary>
    public static LabelingPolicy Default { get; } = new(
        LabelTaxonomy.Default,
        [],
        LabelTaxonomy.Default.Highest,
        [EntityTypes.UsSsn, EntityTypes.CreditCard, EntityTypes.IbanCode, EntityTypes.UsBankNumber, EntityTypes.UkNhs, EntityTypes.MedicalLicense, EntityTypes.UsNpi, EntityTypes.UsPassport]);
}

/// <summary>Reads and validates <c>labels.yaml</c>, listing every problem with its line.</summary>
public static partial class LabelFile
{
    private static readonly ImmutableHashSet<string> FileKeys = ["apiVersion", "labels", "rules", "autoElevation"];
    private static readonly ImmutableHashSet<string> LabelKeys = ["name", "displayName", "color", "purviewId", "sublabels"];

    /// <summary>Reads a labels file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid.</exception>
    public static async Task<LabelingPolicy> LoadAsync(string path, CancellationToken cancellationToken) =>
        Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false));

    /// <summary>Parses a labels file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid.</exception>
    public static LabelingPolicy Parse(string name, string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var errors = new List<PolicyError>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            throw new PolicyValidationException([new PolicyError(name, (int)exception.Start.Line, null, $"not valid YAML: {exception.Message}")]);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("labels"), out var labelsNode) || labelsNode is not YamlSequenceNode labelList)
        {
            throw new PolicyValidationException([new PolicyError(name, 0, null, "a labels file is a mapping with a 'labels' list, least sensitive first")]);
        }

        Unknown(name, root, FileKeys, errors);
        if (Scalar(root, "apiVersion") != PolicyLoader.ApiVersion)
        {
            errors.Add(new PolicyError(name, (int)root.Start.Line, null, $"apiVersion must be '{PolicyLoader.ApiVersion}'"));
        }

        var labels = new List<SensitivityLabel>();
        var rank = 0;
        foreach (var node in labelList)
        {
            if (node is not YamlMappingNode map || Scalar(map, "name") is not { Length: > 0 } labelName)
            {
                errors.Add(new PolicyError(name, (int)node.Start.Line, null, "each label is a mapping with a name"));
                continue;
            }

            Unknown(name, map, LabelKeys, errors);
            labels.Add(Label(name, map, labelName, rank, null, errors));
            if (map.Children.TryGetValue(new YamlScalarNode("sublabels"), out var subNode))
            {
                foreach (var sub in (subNode as YamlSequenceNode)?.Children ?? [])
                {
                    if (sub is YamlMappingNode subMap && Scalar(subMap, "name") is { Length: > 0 } subName)
                    {
                        Unknown(name, subMap, LabelKeys.Remove("sublabels"), errors);
                        labels.Add(Label(name, subMap, $"{labelName}/{subName}", rank, labelName, errors));
                    }
                    else
                    {
                        errors.Add(new PolicyError(name, (int)sub.Start.Line, null, $"each sublabel of '{labelName}' is a mapping with a name"));
                    }
                }
            }

            rank++;
        }

        LabelTaxonomy? taxonomy = null;
        try
        {
            taxonomy = new LabelTaxonomy(labels);
        }
        catch (ArgumentException exception)
        {
            errors.Add(new PolicyError(name, 0, null, exception.Message.Split(" (Parameter", StringSplitOptions.None)[0]));
        }

        var rules = ImmutableArray.CreateBuilder<LabelRule>();
        SensitivityLabel? elevation = null;
        var elevationEntities = ImmutableHashSet<string>.Empty;
        if (taxonomy is not null)
        {
            ReadRules(name, root, taxonomy, rules, errors);
            (elevation, elevationEntities) = ReadElevation(name, root, taxonomy, errors);
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        return new LabelingPolicy(taxonomy!, rules.ToImmutable(), elevation, elevationEntities);
    }

    private static SensitivityLabel Label(string file, YamlMappingNode map, string labelName, int rank, string? parent, List<PolicyError> errors)
    {
        var color = Scalar(map, "color");
        if (color is not null && !ColorPattern().IsMatch(color))
        {
            errors.Add(new PolicyError(file, (int)map.Start.Line, null, $"label '{labelName}': color must look like #rrggbb"));
        }

        var purview = Scalar(map, "purviewId");
        if (purview is not null && !Guid.TryParse(purview, out _))
        {
            errors.Add(new PolicyError(file, (int)map.Start.Line, null, $"label '{labelName}': purviewId must be a GUID"));
        }

        return new SensitivityLabel(labelName, rank, purview) { Parent = parent, DisplayName = Scalar(map, "displayName"), Color = color };
    }

    private static void ReadRules(string file, YamlMappingNode root, LabelTaxonomy taxonomy, ImmutableArray<LabelRule>.Builder rules, List<PolicyError> errors)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode("rules"), out var node))
        {
            return;
        }

        var parser = new ExpressionParser(taxonomy);
        foreach (var item in (node as YamlSequenceNode)?.Children ?? [])
        {
            if (item is not YamlMappingNode map || Scalar(map, "id") is not { Length: > 0 } id)
            {
                errors.Add(new PolicyError(file, (int)item.Start.Line, null, "each label rule is a mapping with id, when and label"));
                continue;
            }

            Unknown(file, map, ["id", "when", "label", "description"], errors);
            if (!taxonomy.TryGet(Scalar(map, "label") ?? string.Empty, out var label))
            {
                errors.Add(new PolicyError(file, (int)map.Start.Line, id, $"label '{Scalar(map, "label")}' is not in the taxonomy"));
                continue;
            }

            try
            {
                var condition = parser.Parse(Scalar(map, "when") ?? "false");
                rules.Add(new LabelRule(id, condition, label));
            }
            catch (PolicySyntaxException exception)
            {
                errors.Add(new PolicyError(file, (int)map.Start.Line, id, $"in 'when' {exception.Message}"));
            }
        }
    }

    private static (SensitivityLabel?, ImmutableHashSet<string>) ReadElevation(string file, YamlMappingNode root, LabelTaxonomy taxonomy, List<PolicyError> errors)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode("autoElevation"), out var node))
        {
            return (null, []);
        }

        if (node is not YamlMappingNode map || !taxonomy.TryGet(Scalar(map, "label") ?? string.Empty, out var label))
        {
            errors.Add(new PolicyError(file, (int)node.Start.Line, null, "autoElevation needs a label from the taxonomy and a list of entities"));
            return (null, []);
        }

        var entities = map.Children.TryGetValue(new YamlScalarNode("entities"), out var list) && list is YamlSequenceNode sequence
            ? sequence.Children.OfType<YamlScalarNode>().Select(static s => s.Value ?? string.Empty).ToImmutableHashSet(StringComparer.Ordinal)
            : [];
        return (label, entities);
    }

    private static void Unknown(string file, YamlMappingNode map, ImmutableHashSet<string> known, List<PolicyError> errors)
    {
        foreach (var key in map.Children.Keys.OfType<YamlScalarNode>().Where(key => !known.Contains(key.Value ?? string.Empty)))
        {
            errors.Add(new PolicyError(file, (int)key.Start.Line, null, $"unknown field '{key.Value}'; expected one of {string.Join(", ", known.Order(StringComparer.Ordinal))}"));
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    [GeneratedRegex("^#[0-9a-fA-F]{6}$")]
    private static partial Regex ColorPattern();
}
