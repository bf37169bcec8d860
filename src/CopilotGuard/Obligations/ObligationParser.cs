using System.Collections.Immutable;
using System.Globalization;
using CopilotGuard.Anonymization;
using CopilotGuard.Policy;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Obligations;

/// <summary>Reads the <c>obligations:</c> section of a policy file, collecting every problem.</summary>
internal static class ObligationParser
{
    private static readonly ImmutableHashSet<string> Keys = ["id", "description", "when", "fields", "entities"];

    public static void Parse(string file, YamlSequenceNode sequence, ExpressionParser parser, ImmutableArray<ObligationRule>.Builder rules, List<PolicyError> errors)
    {
        foreach (var node in sequence)
        {
            var line = (int)node.Start.Line;
            if (node is not YamlMappingNode map)
            {
                errors.Add(new PolicyError(file, line, null, "each obligation is a mapping with id, when, and fields and/or entities"));
                continue;
            }

            var id = Scalar(map, "id");
            foreach (var key in map.Children.Keys.OfType<YamlScalarNode>().Where(static key => !Keys.Contains(key.Value ?? string.Empty)))
            {
                errors.Add(new PolicyError(file, (int)key.Start.Line, id, $"unknown field '{key.Value}'; expected one of {string.Join(", ", Keys.Order(StringComparer.Ordinal))}"));
            }

            if (string.IsNullOrWhiteSpace(id))
            {
                errors.Add(new PolicyError(file, line, null, "obligation id is required"));
                continue;
            }

            var when = Scalar(map, "when") ?? "true";
            Expression? condition = null;
            try
            {
                condition = parser.Parse(when);
            }
            catch (PolicySyntaxException exception)
            {
                errors.Add(new PolicyError(file, line, id, $"in 'when' {exception.Message}"));
            }

            var fields = ImmutableDictionary.CreateBuilder<string, FieldObligation>(StringComparer.Ordinal);
            if (map.Children.TryGetValue(new YamlScalarNode("fields"), out var fieldsNode))
            {
                if (fieldsNode is not YamlMappingNode fieldMap)
                {
                    errors.Add(new PolicyError(file, (int)fieldsNode.Start.Line, id, "fields must map field names to operators"));
                }
                else
                {
                    foreach (var (keyNode, valueNode) in fieldMap.Children)
                    {
                        var field = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                        try
                        {
                            fields[field] = ParseField(valueNode);
                        }
                        catch (FormatException exception)
                        {
                            errors.Add(new PolicyError(file, (int)valueNode.Start.Line, id, $"field '{field}': {exception.Message}"));
                        }
                    }
                }
            }

            var entities = ImmutableDictionary.CreateBuilder<string, AnonymizationOperator>(StringComparer.Ordinal);
            if (map.Children.TryGetValue(new YamlScalarNode("entities"), out var entitiesNode))
            {
                if (entitiesNode is not YamlMappingNode entityMap)
                {
                    errors.Add(new PolicyError(file, (int)entitiesNode.Start.Line, id, "entities must map entity types (or 'default') to operators"));
                }
                else
                {
                    foreach (var (keyNode, valueNode) in entityMap.Children)
                    {
                        var type = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                        try
                        {
                            entities[type] = ParseEntity(valueNode);
                        }
                        catch (Exception exception) when (exception is FormatException or ArgumentException)
                        {
                            errors.Add(new PolicyError(file, (int)valueNode.Start.Line, id, $"entity '{type}': {exception.Message}"));
                        }
                    }
                }
            }

            if (fields.Count == 0 && entities.Count == 0)
            {
                errors.Add(new PolicyError(file, line, id, "an obligation needs fields or entities"));
            }

            if (condition is not null)
            {
                rules.Add(new ObligationRule(id, condition, when, fields.ToImmutable(), entities.ToImmutable(), Scalar(map, "description"), file, line));
            }
        }
    }

    private static FieldObligation ParseField(YamlNode node)
    {
        var (name, parameters) = Operator(node);
        return name switch
        {
            "keep" => FieldObligation.Keep,
            "drop" => FieldObligation.Drop,
            "hash" => new HashField(),
            "mask" => new MaskField(
                parameters.TryGetValue("keepLast", out var keep) ? int.Parse(keep, CultureInfo.InvariantCulture) : 4,
                parameters.TryGetValue("char", out var c) && c.Length == 1 ? c[0] : '*'),
            "generalize" when parameters.TryGetValue("band", out var band) && double.TryParse(band, NumberStyles.Float, CultureInfo.InvariantCulture, out var width) && width > 0
                => new GeneralizeField(BandWidth: width),
            "generalize" when parameters.TryGetValue("date", out var precision) && precision is "month" or "year"
                => new GeneralizeField(DatePrecision: precision),
            "generalize" when parameters.TryGetValue("category", out var category)
                => new GeneralizeField(Category: category),
            "generalize" => throw new FormatException("generalize needs band (a positive number), date (month or year) or category"),
            _ => throw new FormatException($"unknown field operator '{name}'; expected keep, generalize, mask, hash or drop"),
        };
    }

    private static AnonymizationOperator ParseEntity(YamlNode node)
    {
        var (name, parameters) = Operator(node);
        return AnonymizationOperator.Parse(name, parameters);
    }

    private static (string Name, Dictionary<string, string> Parameters) Operator(YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode { Value: { } name }:
                return (name, []);
            case YamlMappingNode { Children.Count: 1 } map:
                {
                    var (key, value) = map.Children.First();
                    var name = ((YamlScalarNode)key).Value ?? string.Empty;
                    var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
                    switch (value)
                    {
                        case YamlMappingNode options:
                            foreach (var (optionKey, optionValue) in options.Children)
                            {
                                parameters[((YamlScalarNode)optionKey).Value ?? string.Empty] = (optionValue as YamlScalarNode)?.Value
                                    ?? throw new FormatException($"the options of '{name}' must be plain values");
                            }

                            break;
                        case YamlScalarNode scalar when name == "generalize":
                            parameters[scalar.Value is "month" or "year" ? "date" : "band"] = scalar.Value ?? string.Empty;
                            break;
                        default:
                            throw new FormatException($"write '{name}' alone or with a mapping of options");
                    }

                    return (name, parameters);
                }

            default:
                throw new FormatException("an operator is a name (e.g. drop) or a one-key mapping (e.g. {mask: {keepLast: 4}})");
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
