using System.Collections.Frozen;
using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Typing;
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

    private DirectoryFile(FrozenDictionary<string, Principal> principals, FrozenDictionary<string, AttributeDeclaration> attributeKinds)
    {
        _principals = principals;
        AttributeKinds = attributeKinds;
    }

    /// <summary>Gets every principal in the directory.</summary>
    public IEnumerable<Principal> Principals => _principals.Values;

    /// <summary>Gets the kind of every attribute the principals hold, with the line it is first seen on (the directory's
    /// part of the <see cref="AttributeSchema"/>).</summary>
    public IReadOnlyDictionary<string, AttributeDeclaration> AttributeKinds { get; }

    /// <summary>Reads and validates a directory file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<DirectoryFile> LoadAsync(string path, LabelTaxonomy labels, CancellationToken cancellationToken) =>
        await LoadAsync(path, labels, declared: null, cancellationToken).ConfigureAwait(false);

    /// <summary>Reads and validates a directory file, converting attributes declared in <c>attributes.yaml</c>.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<DirectoryFile> LoadAsync(string path, LabelTaxonomy labels, IReadOnlyDictionary<string, AttributeDeclaration>? declared, CancellationToken cancellationToken) =>
        Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), labels, declared);

    /// <summary>Parses and validates a directory from YAML text.</summary>
    /// <param name="name">The file name, for messages.</param>
    /// <param name="yaml">The YAML text.</param>
    /// <param name="labels">The label taxonomy.</param>
    /// <param name="declared">Declared principal attribute types (from <c>attributes.yaml</c>), converted to when they fit.</param>
    /// <exception cref="PolicyValidationException">The text is invalid; every problem is listed.</exception>
    public static DirectoryFile Parse(string name, string yaml, LabelTaxonomy labels, IReadOnlyDictionary<string, AttributeDeclaration>? declared = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(labels);
        var errors = new List<PolicyError>();
        var (root, list) = YamlFile.ReadMappingWithList(name, yaml, "principals", "a directory file is a mapping with a 'principals' list");

        var principals = new Dictionary<string, Principal>(StringComparer.Ordinal);
        var kinds = new Dictionary<string, (AttributeDeclaration Declaration, string Principal)>(StringComparer.Ordinal);
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

                    AttributeKind? kindOf = declared is not null && declared.TryGetValue(attributeName, out var declaration) ? declaration.Kind
                        : ExpressionParser.DefaultLabelAttributes.Contains(attributeName) ? AttributeKind.Label
                        : null;
                    var problems = new List<(int Line, string Message)>();
                    var values = YamlScalarTyper.ReadValues(valueNode, attributeName, kindOf, labels, problems);
                    foreach (var (problemLine, message) in problems)
                    {
                        errors.Add(new PolicyError(name, problemLine, null, $"principal '{id}': {message}"));
                    }

                    attributes.Declare(attributeName);
                    foreach (var value in values)
                    {
                        attributes.Add(attributeName, value);
                        var valueLine = (int)valueNode.Start.Line;
                        if (!kinds.TryGetValue(attributeName, out var seen))
                        {
                            kinds[attributeName] = (new AttributeDeclaration(value.Kind, name, valueLine), id);
                        }
                        else if (seen.Declaration.Kind != value.Kind)
                        {
                            errors.Add(new PolicyError(name, valueLine, null,
                                $"principal '{id}', attribute '{attributeName}' is {Kind(value.Kind)} but it is {Kind(seen.Declaration.Kind)} for principal '{seen.Principal}' (line {seen.Declaration.Line}); an attribute has one type (quote numbers and booleans meant as text)"));
                            break;
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

        return new DirectoryFile(
            principals.ToFrozenDictionary(StringComparer.Ordinal),
            kinds.ToFrozenDictionary(static pair => pair.Key, static pair => pair.Value.Declaration, StringComparer.Ordinal));
    }

    /// <inheritdoc />
    public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_principals.GetValueOrDefault(principalId));

    private static string Kind(AttributeKind kind) => $"a {AttributeValue.KindName(kind)}";

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
