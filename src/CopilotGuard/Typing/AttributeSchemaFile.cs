using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Policy;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Typing;

/// <summary>The data folder's <c>attributes.yaml</c>: the declared types of principal, resource and request attributes.</summary>
/// <remarks>
/// Format: <c>apiVersion: copilotguard/v1</c> and up to three mappings, <c>principal</c>, <c>resource</c> and
/// <c>request</c>, from attribute name to type (<c>string</c>, <c>number</c>, <c>boolean</c>, <c>timestamp</c> or
/// <c>label</c>), written either as <c>name: number</c> or as <c>name: {type: number, description: "..."}</c>. Any
/// attribute may hold a list of values of its type.
/// </remarks>
public sealed class AttributeSchemaFile
{
    /// <summary>The file's name in a data folder.</summary>
    public const string FileName = "attributes.yaml";

    private static readonly ImmutableHashSet<string> RootKeys = ["apiVersion", "description", "principal", "resource", "request"];
    private static readonly ImmutableHashSet<string> LongFormKeys = ["type", "description"];

    private AttributeSchemaFile(ImmutableDictionary<AttributeScope, ImmutableDictionary<string, AttributeDeclaration>> declarations) =>
        Declarations = declarations;

    /// <summary>Gets the declarations per scope, each with its file and line.</summary>
    public ImmutableDictionary<AttributeScope, ImmutableDictionary<string, AttributeDeclaration>> Declarations { get; }

    /// <summary>Reads and validates an attributes file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<AttributeSchemaFile> LoadAsync(string path, CancellationToken cancellationToken) =>
        Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false));

    /// <summary>Parses and validates an attributes file from YAML text.</summary>
    /// <exception cref="PolicyValidationException">The text is invalid; every problem is listed.</exception>
    public static AttributeSchemaFile Parse(string name, string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var root = YamlFile.ReadMapping(name, yaml, "an attributes file is a mapping with apiVersion and principal, resource and request mappings");

        var errors = new List<PolicyError>();
        foreach (var key in root.Children.Keys)
        {
            if (key is not YamlScalarNode { Value: { } keyName } || !RootKeys.Contains(keyName))
            {
                errors.Add(new PolicyError(name, (int)key.Start.Line, null, $"unknown field '{(key as YamlScalarNode)?.Value}'; expected one of {string.Join(", ", RootKeys.Order(StringComparer.Ordinal))}"));
            }
        }

        if (Scalar(root, "apiVersion") != PolicyLoader.ApiVersion)
        {
            errors.Add(new PolicyError(name, (int)root.Start.Line, null, $"apiVersion must be '{PolicyLoader.ApiVersion}'"));
        }

        var declarations = ImmutableDictionary.CreateBuilder<AttributeScope, ImmutableDictionary<string, AttributeDeclaration>>();
        foreach (var scope in (ReadOnlySpan<AttributeScope>)[AttributeScope.Principal, AttributeScope.Resource, AttributeScope.Request])
        {
            var scopeName = AttributeSchema.ScopeName(scope);
            var scopeDeclarations = ImmutableDictionary.CreateBuilder<string, AttributeDeclaration>(StringComparer.Ordinal);
            if (root.Children.TryGetValue(new YamlScalarNode(scopeName), out var scopeNode))
            {
                if (scopeNode is YamlMappingNode map)
                {
                    foreach (var (keyNode, typeNode) in map.Children)
                    {
                        var attribute = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
                        var line = (int)keyNode.Start.Line;
                        if (ReadKind(name, $"{scopeName}.{attribute}", typeNode, errors) is { } kind)
                        {
                            scopeDeclarations[attribute] = new AttributeDeclaration(kind, name, line);
                        }
                    }
                }
                else if (scopeNode is not YamlScalarNode { Value: null or "" })
                {
                    errors.Add(new PolicyError(name, (int)scopeNode.Start.Line, null, $"'{scopeName}' must be a mapping from attribute name to type"));
                }
            }

            declarations[scope] = scopeDeclarations.ToImmutable();
        }

        return errors.Count > 0 ? throw new PolicyValidationException(errors) : new AttributeSchemaFile(declarations.ToImmutable());
    }

    /// <summary>Reads a type name (<c>string</c>, <c>number</c>, <c>boolean</c>, <c>timestamp</c>, <c>label</c>).</summary>
    public static AttributeKind? ParseKind(string? type) => type switch
    {
        "string" => AttributeKind.String,
        "number" => AttributeKind.Number,
        "boolean" => AttributeKind.Boolean,
        "timestamp" => AttributeKind.Timestamp,
        "label" => AttributeKind.Label,
        _ => null,
    };

    private static AttributeKind? ReadKind(string file, string attribute, YamlNode node, List<PolicyError> errors)
    {
        var typeNode = node;
        if (node is YamlMappingNode longForm)
        {
            foreach (var key in longForm.Children.Keys)
            {
                if (key is not YamlScalarNode { Value: { } keyName } || !LongFormKeys.Contains(keyName))
                {
                    errors.Add(new PolicyError(file, (int)key.Start.Line, null, $"{attribute}: unknown field '{(key as YamlScalarNode)?.Value}'; expected type and description"));
                }
            }

            if (!longForm.Children.TryGetValue(new YamlScalarNode("type"), out typeNode!))
            {
                errors.Add(new PolicyError(file, (int)node.Start.Line, null, $"{attribute}: type is required"));
                return null;
            }
        }

        var type = (typeNode as YamlScalarNode)?.Value;
        var kind = ParseKind(type);
        if (kind is null)
        {
            errors.Add(new PolicyError(file, (int)typeNode.Start.Line, null, $"{attribute}: unknown type '{type}'; expected string, number, boolean, timestamp or label"));
        }

        return kind;
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
