using System.Collections.Frozen;
using System.Collections.Immutable;
using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Identity;

/// <summary>Whether a destination is inside the organization or a model outside it.</summary>
public enum DestinationKind
{
    /// <summary>A model or service the organization runs itself.</summary>
    Internal,

    /// <summary>A model outside the organization.</summary>
    External,
}

/// <summary>A registered destination: where retrieved data is sent, and the limits that hold whatever the policy bundle says.</summary>
/// <param name="Id">The destination id requests name (<c>request.destination</c>).</param>
/// <param name="Kind">Internal or external.</param>
/// <param name="Ceiling">The most sensitive label that may reach it; a chunk or field above it never does.</param>
/// <param name="Anonymization">The operators it requires per entity type (the key <c>default</c> covers every other type);
/// applied at least as strictly as listed, whatever the obligations choose.</param>
/// <param name="Region">Where it runs (informational, e.g. <c>westeurope</c>).</param>
public sealed record Destination(
    string Id,
    DestinationKind Kind,
    SensitivityLabel Ceiling,
    ImmutableDictionary<string, AnonymizationOperator> Anonymization,
    string? Region)
{
    /// <summary>The key of <see cref="Anonymization"/> that covers every entity type not named.</summary>
    public const string DefaultEntity = "default";

    /// <summary>Adds the ceiling to a residual filter: <c>residual &amp;&amp; resource.label &lt;= ceiling</c>.</summary>
    /// <remarks>When the ceiling is the taxonomy's highest label the condition holds for every labeled chunk (every
    /// stored chunk has a label), so the residual is returned unchanged and the pushed filter stays as it was.</remarks>
    public FilterNode Constrain(FilterNode residual, LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(residual);
        ArgumentNullException.ThrowIfNull(labels);
        return Ceiling.Rank >= labels.Highest.Rank ? residual : Filters.And(residual, CeilingFilter);
    }

    /// <summary>Adds the ceiling to an explanation: a resource above the ceiling is not visible, whatever the rules said.</summary>
    public PolicyExplanation Constrain(PolicyExplanation explanation, AttributeSet resource, LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(labels);
        var residual = Constrain(explanation.Residual, labels);
        if (ReferenceEquals(residual, explanation.Residual))
        {
            return explanation;
        }

        if (FilterEvaluator.Matches(CeilingFilter, resource))
        {
            return explanation with { Residual = residual };
        }

        var label = resource.TryGet(Retrieval.ResourceAttributeNames.Label, out var values) && values.Length > 0 ? string.Join(", ", values.Select(static v => v.Text)) : "unlabeled";
        var reason = $"destination '{Id}' ({Kind.ToString().ToLowerInvariant()}) has ceiling {Ceiling.Name} and the resource is {label}";
        return explanation with
        {
            Visible = false,
            Reason = explanation.Visible ? reason : explanation.Reason + "; " + reason,
            Residual = residual,
        };
    }

    private ComparisonFilter CeilingFilter => new(Retrieval.ResourceAttributeNames.Label, ComparisonOperator.LessThanOrEqual, Ceiling.ToAttributeValue());
}

/// <summary>The registered destinations of a data folder (<c>destinations.yaml</c>, schema <c>schemas/destinations.schema.json</c>).</summary>
/// <remarks>
/// Format: <c>apiVersion: copilotguard/v1</c>, optional <c>allowExternalCeilingAbove: true</c>, and
/// <c>destinations:</c>, a list of <c>{id, kind: internal|external, ceiling, anonymization: {ENTITY: operator},
/// region}</c>. An external destination's ceiling defaults to <c>General</c> and may be above it only with
/// <c>allowExternalCeilingAbove: true</c>; an internal one must state its ceiling. A request naming a destination that
/// is not registered, or none, is treated as the most restrictive registered destination; without a file, as
/// <see cref="BuiltIn"/>'s only destination, <c>external</c> with ceiling <c>General</c>.
/// </remarks>
public sealed class DestinationRegistry
{
    /// <summary>The file name in the data folder.</summary>
    public const string FileName = "destinations.yaml";

    /// <summary>The id of the destination a deployment without a destinations file has.</summary>
    public const string ExternalId = "external";

    /// <summary>The label an external destination's ceiling defaults to, and may exceed only when explicitly allowed.</summary>
    public const string ExternalDefaultCeiling = "General";

    private static readonly ImmutableHashSet<string> RootKeys = ["apiVersion", "allowExternalCeilingAbove", "destinations"];
    private static readonly ImmutableHashSet<string> EntryKeys = ["id", "kind", "ceiling", "anonymization", "region", "description"];
    private readonly FrozenDictionary<string, Destination> _destinations;

    private DestinationRegistry(FrozenDictionary<string, Destination> destinations)
    {
        _destinations = destinations;
        MostRestrictive = destinations.Values
            .OrderBy(static d => d.Ceiling.Rank)
            .ThenBy(static d => d.Kind == DestinationKind.External ? 0 : 1)
            .ThenBy(static d => d.Id == ExternalId ? 0 : 1)
            .ThenBy(static d => d.Id, StringComparer.Ordinal)
            .First();
    }

    /// <summary>Gets the registry of a deployment without a destinations file: one <c>external</c> destination with ceiling <c>General</c>.</summary>
    public static DestinationRegistry BuiltIn(LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var ceiling = labels.TryGet(ExternalDefaultCeiling, out var general) ? general : labels.Labels[0];
        var external = new Destination(ExternalId, DestinationKind.External, ceiling, ImmutableDictionary<string, AnonymizationOperator>.Empty, null);
        return new DestinationRegistry(new Dictionary<string, Destination>(StringComparer.Ordinal) { [ExternalId] = external }.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>Gets every registered destination.</summary>
    public IEnumerable<Destination> Destinations => _destinations.Values;

    /// <summary>Gets the destination an unregistered or undeclared destination is treated as: the lowest ceiling,
    /// external before internal, then the one named <c>external</c>, then the first id.</summary>
    public Destination MostRestrictive { get; }

    /// <summary>Resolves the destination a request names: the registered one, or <see cref="MostRestrictive"/> when it
    /// names none or one that is not registered.</summary>
    public Destination Resolve(string? requested) =>
        !string.IsNullOrWhiteSpace(requested) && _destinations.TryGetValue(requested, out var destination) ? destination : MostRestrictive;

    /// <summary>Reads and validates a destinations file, or returns <see cref="BuiltIn"/> when there is none.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<DestinationRegistry> LoadAsync(string path, LabelTaxonomy labels, CancellationToken cancellationToken) =>
        File.Exists(path)
            ? Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), labels)
            : BuiltIn(labels);

    /// <summary>Parses and validates a destinations file.</summary>
    /// <exception cref="PolicyValidationException">The text is invalid; every problem is listed.</exception>
    public static DestinationRegistry Parse(string name, string yaml, LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(labels);
        var (root, list) = YamlFile.ReadMappingWithList(name, yaml, "destinations", "a destinations file is a mapping with a 'destinations' list");

        var errors = new List<PolicyError>();
        UnknownKeys(name, root, RootKeys, errors);
        if (Scalar(root, "apiVersion") is not "copilotguard/v1")
        {
            errors.Add(new PolicyError(name, (int)root.Start.Line, null, "apiVersion must be copilotguard/v1"));
        }

        var allowAbove = Scalar(root, "allowExternalCeilingAbove") switch
        {
            null or "false" => false,
            "true" => true,
            var other => Error(errors, new PolicyError(name, (int)root.Start.Line, null, $"allowExternalCeilingAbove must be true or false, not '{other}'")),
        };
        if (!labels.TryGet(ExternalDefaultCeiling, out var general))
        {
            general = labels.Labels[0];
        }

        var destinations = new Dictionary<string, Destination>(StringComparer.Ordinal);
        foreach (var node in list)
        {
            var line = (int)node.Start.Line;
            if (node is not YamlMappingNode entry)
            {
                errors.Add(new PolicyError(name, line, null, "each destination is a mapping with id, kind and ceiling"));
                continue;
            }

            UnknownKeys(name, entry, EntryKeys, errors);
            var id = Scalar(entry, "id");
            if (string.IsNullOrWhiteSpace(id) || id.Length > 256)
            {
                errors.Add(new PolicyError(name, line, null, "id is required (1-256 characters)"));
                continue;
            }

            DestinationKind? kind = Scalar(entry, "kind") switch
            {
                "internal" => DestinationKind.Internal,
                "external" => DestinationKind.External,
                _ => null,
            };
            if (kind is null)
            {
                errors.Add(new PolicyError(name, line, null, $"destination '{id}': kind must be internal or external"));
                continue;
            }

            SensitivityLabel? ceiling;
            if (Scalar(entry, "ceiling") is { } ceilingName)
            {
                if (!labels.TryGet(ceilingName, out ceiling))
                {
                    errors.Add(new PolicyError(name, line, null, $"destination '{id}': unknown sensitivity label '{ceilingName}'"));
                    continue;
                }
            }
            else if (kind == DestinationKind.External)
            {
                ceiling = general;
            }
            else
            {
                errors.Add(new PolicyError(name, line, null, $"destination '{id}': an internal destination must state its ceiling"));
                continue;
            }

            if (kind == DestinationKind.External && ceiling.Rank > general.Rank && !allowAbove)
            {
                errors.Add(new PolicyError(name, line, null, $"destination '{id}': an external destination's ceiling is at most {general.Name} unless allowExternalCeilingAbove is true (it is {ceiling.Name})"));
                continue;
            }

            var anonymization = Operators(name, id, entry, errors);
            if (!destinations.TryAdd(id, new Destination(id, kind.Value, ceiling, anonymization, Scalar(entry, "region"))))
            {
                errors.Add(new PolicyError(name, line, null, $"destination '{id}' is listed twice"));
            }
        }

        if (destinations.Count == 0)
        {
            errors.Add(new PolicyError(name, (int)list.Start.Line, null, "destinations must list at least one destination"));
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        return new DestinationRegistry(destinations.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static ImmutableDictionary<string, AnonymizationOperator> Operators(string name, string id, YamlMappingNode entry, List<PolicyError> errors)
    {
        if (!entry.Children.TryGetValue(new YamlScalarNode("anonymization"), out var node))
        {
            return ImmutableDictionary<string, AnonymizationOperator>.Empty;
        }

        if (node is not YamlMappingNode map)
        {
            errors.Add(new PolicyError(name, (int)node.Start.Line, null, $"destination '{id}': anonymization is a mapping of entity type (or default) to operator"));
            return ImmutableDictionary<string, AnonymizationOperator>.Empty;
        }

        var operators = ImmutableDictionary.CreateBuilder<string, AnonymizationOperator>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var entity = (keyNode as YamlScalarNode)?.Value;
            if (string.IsNullOrWhiteSpace(entity) || valueNode is not YamlScalarNode { Value: { Length: > 0 } operatorName })
            {
                errors.Add(new PolicyError(name, (int)keyNode.Start.Line, null, $"destination '{id}': each anonymization entry is ENTITY_TYPE: operator"));
                continue;
            }

            try
            {
                operators[entity] = AnonymizationOperator.Parse(operatorName);
            }
            catch (ArgumentException exception)
            {
                errors.Add(new PolicyError(name, (int)valueNode.Start.Line, null, $"destination '{id}', {entity}: {exception.Message}"));
            }
        }

        return operators.ToImmutable();
    }

    private static bool Error(List<PolicyError> errors, PolicyError error)
    {
        errors.Add(error);
        return false;
    }

    private static void UnknownKeys(string name, YamlMappingNode node, ImmutableHashSet<string> allowed, List<PolicyError> errors)
    {
        foreach (var key in node.Children.Keys.OfType<YamlScalarNode>().Where(key => !allowed.Contains(key.Value ?? string.Empty)))
        {
            errors.Add(new PolicyError(name, (int)key.Start.Line, null, $"unknown field '{key.Value}'; expected one of {string.Join(", ", allowed.Order(StringComparer.Ordinal))}"));
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
