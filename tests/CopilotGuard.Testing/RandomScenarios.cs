using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Testing;

/// <summary>Generates random policies, principals, requests and chunks, hostile values included, from a seed.</summary>
public sealed class RandomScenarios(int seed)
{
    /// <summary>String values that must survive every dialect unchanged: quotes, escapes, SQL and OData syntax, unicode.</summary>
    public static readonly ImmutableArray<string> HostileValues =
    [
        "a", "b", "contoso", "O'Brien", "x\"y", "'; DROP TABLE chunks; --", "' OR '1'='1", "ünïcødé", "日本語", "🙂",
        "", " ", "back\\slash", "$filter", "a%", "_", "null", "NULL", "true", "1", "eq", "tab\there", "line\nbreak",
        "search.in", "any(x: x eq 'a')", "\u0000", "Ω", "e\u0301",
    ];

    private static readonly string[] ResourceAttributes = ["account", "patient", "tags", "region"];
    private static readonly string[] PrincipalAttributes = ["accounts", "roles", "region", "groups"];
    private static readonly string[] RangeOps = ["<", "<=", ">", ">="];
    private static readonly string[] AllOps = ["<", "<=", ">", ">=", "==", "!="];

    /// <summary>Timestamps that typed values and literals are drawn from (a few, so that equalities happen).</summary>
    private static readonly string[] Instants = ["2024-01-01", "2024-06-01T12:00:00Z", "2025-03-15T08:30:00+02:00"];

    public Random Random { get; } = new(seed);

    public LabelTaxonomy Labels { get; } = LabelTaxonomy.Default;

    public string Value() => HostileValues[Random.Next(HostileValues.Length)];

    public PolicyBundle Policy(int ruleCount)
    {
        var parser = new ExpressionParser(Labels);
        var rules = ImmutableArray.CreateBuilder<PolicyRule>();
        for (var i = 0; i < ruleCount; i++)
        {
            var text = Expression(depth: 0);
            var effect = Random.Next(4) == 0 ? PolicyEffect.Deny : PolicyEffect.Allow;
            rules.Add(new PolicyRule($"r{i}", effect, parser.Parse(text), text, null, "random.yaml", i + 1));
        }

        return new PolicyBundle("random", seed.ToString(CultureInfo.InvariantCulture), rules.ToImmutable(), Labels);
    }

    public string Expression(int depth)
    {
        var roll = Random.Next(depth >= 3 ? 10 : 14);
        return roll switch
        {
            10 => $"({Expression(depth + 1)} && {Expression(depth + 1)})",
            11 => $"({Expression(depth + 1)} || {Expression(depth + 1)})",
            12 => $"!({Expression(depth + 1)})",
            13 => $"({Expression(depth + 1)} && {Expression(depth + 1)})",
            _ => Leaf(),
        };
    }

    private string Leaf()
    {
        var attribute = Pick(ResourceAttributes);
        return Random.Next(19) switch
        {
            0 => $"resource.{attribute} == {Quote(Value())}",
            1 => $"resource.{attribute} != {Quote(Value())}",
            2 => $"resource.{attribute} in principal.{Pick(PrincipalAttributes)}",
            3 => $"resource.{attribute} in [{string.Join(", ", Enumerable.Range(0, Random.Next(0, 5)).Select(_ => Quote(Value())))}]",
            4 => $"resource.label {Pick(RangeOps)} principal.clearance",
            5 => $"resource.label {Pick([.. RangeOps, "==", "!="])} {Quote(Labels.Labels[Random.Next(Labels.Labels.Length)].Name)}",
            6 => $"resource.level {Pick([.. RangeOps, "==", "!="])} {Random.Next(0, 5)}",
            7 => $"principal.level {Pick(RangeOps)} resource.level",
            8 => $"has(resource.{attribute})",
            9 => $"resource.{attribute}.startsWith({Quote(Prefix())})",
            10 => $"principal.{Pick(PrincipalAttributes)} == {Quote(Value())}",
            11 => $"request.destination == \"internal\"",
            12 => $"{Quote(Value())} in principal.roles",
            13 => $"resource.tags overlaps principal.{Pick(PrincipalAttributes)}",
            14 => $"principal.kind == \"agent\"",
            15 => $"resource.source == {Quote(Pick(["kb", "hr", "support"]))}",
            16 => TypedLeaf(),
            _ => Random.Next(2) == 0 ? "true" : "false",
        };
    }

    /// <summary>A leaf over attributes that may hold values of several kinds (booleans and "true", 5 and "5", timestamps
    /// and ISO strings, empty lists), so that comparisons across kinds appear under negation and in deny rules.</summary>
    private string TypedLeaf() => Random.Next(16) switch
    {
        0 => "resource.flag == true",
        1 => "resource.flag != true",
        2 => "resource.flag",
        3 => "!resource.flag",
        4 => $"resource.flag == {Quote(Pick(["true", "false"]))}",
        5 => $"resource.level {Pick(AllOps)} {Random.Next(0, 5)}",
        6 => $"resource.level {Pick(AllOps)} principal.level",
        7 => $"resource.level == {Quote(Random.Next(0, 5).ToString(CultureInfo.InvariantCulture))}",
        8 => $"resource.created {Pick(AllOps)} timestamp({Quote(Pick(Instants))})",
        9 => $"resource.created == {Quote(Pick(Instants))}",
        10 => $"resource.level in [{string.Join(", ", Enumerable.Range(0, Random.Next(0, 4)).Select(_ => TypedLiteral()))}]",
        11 => $"principal.flag == {Pick(["true", "false", "\"true\""])}",
        12 => $"principal.level {Pick(AllOps)} {Random.Next(0, 5)}",
        13 => $"has(resource.{Pick(["flag", "level", "created", "tags"])})",
        14 => $"resource.tags in principal.{Pick(PrincipalAttributes)}",
        _ => $"resource.level.startsWith({Quote(Random.Next(0, 5).ToString(CultureInfo.InvariantCulture))})",
    };

    private string TypedLiteral() => Random.Next(4) switch
    {
        0 => Random.Next(0, 5).ToString(CultureInfo.InvariantCulture),
        1 => Quote(Random.Next(0, 5).ToString(CultureInfo.InvariantCulture)),
        2 => Random.Next(2) == 0 ? "true" : "false",
        _ => Quote(Value()),
    };

    /// <summary>A value of a random kind for a typed attribute: the "intended" kind most of the time, its string
    /// spelling (as an untyped ingestion would have stored it) or another kind otherwise.</summary>
    private AttributeValue TypedValue(string attribute)
    {
        var roll = Random.Next(10);
        return attribute switch
        {
            "flag" => roll switch
            {
                < 6 => AttributeValue.FromBoolean(Random.Next(2) == 0),
                < 9 => AttributeValue.FromString(Random.Next(2) == 0 ? "true" : "false"),
                _ => AttributeValue.FromNumber(Random.Next(2)),
            },
            "created" => roll switch
            {
                < 6 => Timestamp(Pick(Instants)),
                < 9 => AttributeValue.FromString(Pick(Instants)),
                _ => AttributeValue.FromNumber(Random.Next(0, 5)),
            },
            _ => roll switch
            {
                < 6 => AttributeValue.FromNumber(Random.Next(0, 5)),
                < 8 => AttributeValue.FromString(Random.Next(0, 5).ToString(CultureInfo.InvariantCulture)),
                < 9 => AttributeValue.FromBoolean(Random.Next(2) == 0),
                _ => Labels.Labels[Random.Next(Labels.Labels.Length)].ToAttributeValue(),
            },
        };
    }

    private static AttributeValue Timestamp(string text) =>
        AttributeValue.TryParseTimestamp(text, out var value) ? value : throw new InvalidOperationException(text);

    /// <summary>Adds 1-2 typed values of an attribute, or makes it a present empty list, or leaves it out.</summary>
    private void AddTyped(AttributeSetBuilder builder, string attribute)
    {
        switch (Random.Next(8))
        {
            case 0 or 1:
                return;
            case 2:
                builder.Declare(attribute);
                return;
            case 3:
                builder.Add(attribute, TypedValue(attribute));
                builder.Add(attribute, TypedValue(attribute));
                return;
            default:
                builder.Add(attribute, TypedValue(attribute));
                return;
        }
    }

    private string Prefix()
    {
        var value = Value();
        if (value.Length == 0)
        {
            return value;
        }

        var length = Random.Next(0, value.Length + 1);
        if (length > 0 && length < value.Length && char.IsHighSurrogate(value[length - 1]))
        {
            length++;
        }

        return value[..length];
    }

    public Principal Principal(string id, PrincipalKind kind)
    {
        var builder = new AttributeSetBuilder();
        foreach (var name in PrincipalAttributes)
        {
            if (Random.Next(4) == 0)
            {
                continue;
            }

            var count = name is "region" ? 1 : Random.Next(1, 4);
            for (var i = 0; i < count; i++)
            {
                builder.Add(name, Value());
            }
        }

        if (Random.Next(5) != 0)
        {
            builder.Add("clearance", Labels.Labels[Random.Next(Labels.Labels.Length)].ToAttributeValue());
        }

        AddTyped(builder, "level");
        AddTyped(builder, "flag");
        if (Random.Next(6) == 0)
        {
            // A present, empty list: "x in principal.accounts" is false and its negation true.
            builder.Declare(Pick(PrincipalAttributes));
        }

        return new Principal(id, kind, builder.Build());
    }

    public AttributeSet Request() => RetrievalBroker.RequestAttributes(null, Random.Next(2) == 0 ? "internal" : null);

    public string? Destination() => Random.Next(2) == 0 ? "internal" : null;

    public Chunk Chunk(int index)
    {
        var builder = new AttributeSetBuilder();
        foreach (var name in ResourceAttributes)
        {
            if (Random.Next(3) == 0)
            {
                continue;
            }

            var count = name == "tags" ? Random.Next(1, 4) : 1;
            for (var i = 0; i < count; i++)
            {
                builder.Add(name, Value());
            }
        }

        AddTyped(builder, "level");
        AddTyped(builder, "flag");
        AddTyped(builder, "created");
        if (Random.Next(6) == 0)
        {
            builder.Declare("tags");
        }

        return new Chunk
        {
            Id = $"c{index:D4}",
            DocumentId = $"d{index / 2:D4}",
            Source = Pick(["kb", "hr", "support"]),
            Label = Labels.Labels[Random.Next(Labels.Labels.Length)],
            Text = $"chunk {index}",
            Attributes = builder.Build(),
        };
    }

    public T Pick<T>(IReadOnlyList<T> items) => items[Random.Next(items.Count)];

    /// <summary>Quotes a string as a policy literal (the formatter's one escaping method).</summary>
    public static string Quote(string value) => FilterFormatter.Quote(value);
}
