using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Identity;

/// <summary>A directory of principals and their attributes, read from a YAML file (the embedded default).</summary>
/// <remarks>
/// Format: <c>apiVersion: copilotguard/v1</c> and <c>principals:</c>, a list of <c>{id, kind, displayName,
/// attributes}</c>. Attribute values are strings, numbers, booleans or lists of them; attributes named like a
/// label attribute (e.g. <c>clearance</c>) must name a label of the taxonomy.
/// </remarks>
public sealed class DirectoryFile : IEntitlementProvider
{
    private static readonly ImmutableHashSet<string> PrincipalKeys = ["id", "kind", "displayName", "attributes"];
    private readonly FrozenDictionary<string, Principal> _principals;

    private DirectoryFile(FrozenDictionary<string, Principal> principals) => _principals = principals;

    /// <summary>Gets every principal in the directory.</summary>
    public IEnumerable<Principal> Principals => _principals.Values;

    /// <summary>Reads and validates a directory file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<DirectoryFile> LoadAsync(string path, LabelTaxonomy labels, CancellationToken cancellationToken) =>
        Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), labels);

    /// <summary>Parses and validates a directory from YAML text.</summary>
    /// <exception cref="PolicyValidationException">The text is invalid; every problem is listed.</exception>
    public static DirectoryFile Parse(string name, string yaml, LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(labels);
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
            || !root.Children.TryGetValue(new YamlScalarNode("principals"), out var listNode) || listNode is not YamlSequenceNode list)
        {
            throw new PolicyValidationException([new PolicyError(name, 0, null, "a directory file is a mapping with a 'principals' list")]);
        }

        var principals = new Dictionary<string, Principal>(StringComparer.Ordinal);
        foreach (var node in list)
        {
            var line = (int)node.Start.Line;
            if (node is not YamlMappingNode entry)
            {
                errors.Add(new PolicyError(name, line, null, "each principal is a mapping with id, kind and attributes"));
                continue;
            }

            foreach (var key in entry.Children.Keys.OfType<YamlScalarNode>().Where(key => !PrincipalKeys.Contains(key.Value ?? string.Empty)))
            {
                errors.Add(new PolicyError(name, (int)key.Start.Line, null, $"unknown field '{key.Value}'; expected one of {string.Join(", ", PrincipalKeys.Order(StringComparer.Ordinal))}"));
            }

            var id = Scalar(entry, "id");
            if (string.IsNullOrWhiteSpace(id))
            {
                errors.Add(new PolicyError(name, line, null, "id is required"));
                continue;
            }

            PrincipalKind? kind = (Scalar(entry, "kind") ?? "user") switch
            {
                "user" => PrincipalKind.User,
                "agent" => PrincipalKind.Agent,
                "service" => PrincipalKind.Service,
                _ => null,
            };
            if (kind is null)
            {
                errors.Add(new PolicyError(name, line, null, $"principal '{id}': kind must be user, agent or service"));
                continue;
            }

            var attributes = new AttributeSetBuilder();
            if (entry.Children.TryGetValue(new YamlScalarNode("attributes"), out var attributesNode))
            {
                if (attributesNode is not YamlMappingNode attributeMap)
                {
                    errors.Add(new PolicyError(name, (int)attributesNode.Start.Line, null, $"principal '{id}': attributes must be a mapping"));
                    continue;
                }

                foreach (var (keyNode, valueNode) in attributeMap.Children)
                {
                    var attributeName = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                    if (attributeName is "id" or "kind")
                    {
                        errors.Add(new PolicyError(name, (int)keyNode.Start.Line, null, $"principal '{id}': '{attributeName}' is set by the directory itself and cannot be an attribute"));
                        continue;
                    }

                    if (valueNode is YamlSequenceNode values && values.Children.Any(static c => c is not YamlScalarNode))
                    {
                        errors.Add(new PolicyError(name, (int)valueNode.Start.Line, null, $"principal '{id}', attribute '{attributeName}': a list holds only strings, numbers, booleans or labels"));
                        continue;
                    }

                    if (valueNode is not YamlScalarNode and not YamlSequenceNode)
                    {
                        errors.Add(new PolicyError(name, (int)valueNode.Start.Line, null, $"principal '{id}', attribute '{attributeName}': a value is a string, number, boolean, label or a list of them"));
                        continue;
                    }

                    // An empty list ([]) is a present attribute with no value ("none"), not a missing one ("unknown"):
                    // `sources: []` grants no source, and has(principal.sources) is true.
                    attributes.Declare(attributeName);
                    var scalars = valueNode switch
                    {
                        YamlScalarNode scalar => [scalar],
                        YamlSequenceNode sequence => sequence.Children.Cast<YamlScalarNode>().ToList(),
                        _ => [],
                    };
                    foreach (var scalar in scalars)
                    {
                        var value = ToValue(attributeName, scalar, labels, out var problem);
                        if (problem is not null)
                        {
                            errors.Add(new PolicyError(name, (int)scalar.Start.Line, null, $"principal '{id}', attribute '{attributeName}': {problem}"));
                        }
                        else
                        {
                            attributes.Add(attributeName, value);
                        }
                    }
                }
            }

            attributes.Add("id", id);
            attributes.Add("kind", kind.Value.ToString().ToLowerInvariant());
            if (!principals.TryAdd(id, new Principal(id, kind.Value, attributes.Build(), Scalar(entry, "displayName"))))
            {
                errors.Add(new PolicyError(name, line, null, $"principal '{id}' is listed twice"));
            }
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        return new DirectoryFile(principals.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <inheritdoc />
    public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_principals.GetValueOrDefault(principalId));

    private static AttributeValue ToValue(string attribute, YamlScalarNode scalar, LabelTaxonomy labels, out string? problem)
    {
        problem = null;
        var text = scalar.Value ?? string.Empty;
        if (ExpressionParser.DefaultLabelAttributes.Contains(attribute))
        {
            if (labels.TryGet(text, out var label))
            {
                return label.ToAttributeValue();
            }

            problem = $"unknown sensitivity label '{text}'";
            return default;
        }

        if (scalar.Style is ScalarStyle.Plain)
        {
            if (text is "true" or "false")
            {
                return AttributeValue.FromBoolean(text == "true");
            }

            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
            {
                return AttributeValue.FromNumber(number);
            }
        }

        return AttributeValue.FromString(text);
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
