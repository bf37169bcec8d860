using System.Collections.Immutable;
using CopilotGuard.Filtering;

namespace CopilotGuard.Tests.Filtering;

/// <summary>The kinds the store dialects treat as undecidable agree with the in-memory evaluator, value by value.</summary>
public sealed class KindRulesTests
{
    private static readonly AttributeValue[] Values =
    [
        AttributeValue.FromString("a"), AttributeValue.FromString("5"), AttributeValue.FromString("true"), AttributeValue.FromString(string.Empty),
        AttributeValue.FromNumber(5), AttributeValue.FromNumber(1), AttributeValue.FromNumber(0),
        AttributeValue.FromBoolean(true), AttributeValue.FromBoolean(false),
        AttributeValue.FromLabel("General", 1), AttributeValue.FromLabel("Confidential", 2),
        AttributeValue.FromTimestampMilliseconds(1_700_000_000_000), AttributeValue.FromTimestampMilliseconds(0),
    ];

    [Fact]
    public void Undecided_RandomLeavesAndValues_IsExactlyWhereTheEvaluatorIsUnknown()
    {
        var random = new Random(20261207);
        for (var i = 0; i < 20_000; i++)
        {
            var leaf = Leaf(random);
            var value = Values[random.Next(Values.Length)];
            var (any, decidable) = KindRules.Undecided(leaf);
            var undecidable = any && (decidable is null || decidable != value.Kind);

            var evaluated = FilterEvaluator.LeafValue(leaf, value);

            // A value the leaf cannot decide is unknown unless it satisfies the leaf (an "in" list of several kinds
            // decides the values it holds); a value of a decidable kind is never unknown.
            Assert.True(undecidable ? evaluated != false : evaluated is not null, $"{leaf} over {value}: evaluator {evaluated}, undecidable {undecidable}");
        }
    }

    private static FilterNode Leaf(Random random)
    {
        var constant = Values[random.Next(Values.Length)];
        return random.Next(4) switch
        {
            0 => new ComparisonFilter("x", (ComparisonOperator)random.Next(5), constant),
            1 => new InFilter("x", [.. Enumerable.Range(0, random.Next(0, 4)).Select(_ => Values[random.Next(Values.Length)])]),
            2 => new StartsWithFilter("x", random.Next(2) == 0 ? "a" : string.Empty),
            _ => new InFilter("x", ImmutableArray.Create(constant, constant)),
        };
    }
}
