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
        return Random.Next(17) switch
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
            _ => Random.Next(2) == 0 ? "true" : "false",
        };
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

        if (Random.Next(3) != 0)
        {
            builder.Add("level", AttributeValue.FromNumber(Random.Next(0, 5)));
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

        if (Random.Next(4) != 0)
        {
            builder.Add("level", AttributeValue.FromNumber(Random.Next(0, 5)));
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
