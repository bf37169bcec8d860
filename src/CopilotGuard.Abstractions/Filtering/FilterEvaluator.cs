using System.Collections.Immutable;

namespace CopilotGuard.Filtering;

/// <summary>Evaluates a filter over a resource's attributes in memory, with three-valued logic.</summary>
/// <remarks>This is the one exact check: the broker's post-filter, <c>policy explain</c> and the in-memory
/// store all use it, so pre- and post-filtering can never disagree by construction.</remarks>
public static class FilterEvaluator
{
    /// <summary>Returns whether the resource passes: the filter is definitely true.</summary>
    public static bool Matches(FilterNode filter, AttributeSet resource) => Evaluate(filter, resource) == true;

    /// <summary>Says why a resource does not pass: each top-level conjunct of the filter that is not definitely true,
    /// in policy syntax, with "is false" or "cannot be decided (an attribute is missing)"; empty when it passes.</summary>
    /// <param name="filter">The filter the resource failed.</param>
    /// <param name="resource">The resource's attributes.</param>
    /// <param name="max">The most conjuncts described; a count of the rest is appended.</param>
    public static string ExplainFailure(FilterNode filter, AttributeSet resource, int max = 3)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        var conjuncts = filter is AndFilter and ? and.Operands : [filter];
        var reasons = new List<string>(Math.Min(max, conjuncts.Length));
        var more = 0;
        foreach (var conjunct in conjuncts)
        {
            var value = Evaluate(conjunct, resource);
            if (value == true)
            {
                continue;
            }

            if (reasons.Count == max)
            {
                more++;
                continue;
            }

            reasons.Add(FilterFormatter.Format(conjunct) + (value is null ? " cannot be decided (an attribute is missing)" : " is false"));
        }

        if (more > 0)
        {
            reasons.Add($"and {more} more");
        }

        return string.Join("; ", reasons);
    }

    /// <summary>Evaluates the filter: true, false, or <see langword="null"/> (unknown, for a missing attribute).</summary>
    public static bool? Evaluate(FilterNode filter, AttributeSet resource)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(resource);
        switch (filter)
        {
            case ConstantFilter constant:
                return constant.Value;
            case AndFilter and:
                {
                    bool? result = true;
                    foreach (var operand in and.Operands)
                    {
                        var value = Evaluate(operand, resource);
                        if (value == false)
                        {
                            return false;
                        }

                        if (value is null)
                        {
                            result = null;
                        }
                    }

                    return result;
                }

            case OrFilter or:
                {
                    bool? result = false;
                    foreach (var operand in or.Operands)
                    {
                        var value = Evaluate(operand, resource);
                        if (value == true)
                        {
                            return true;
                        }

                        if (value is null)
                        {
                            result = null;
                        }
                    }

                    return result;
                }

            case NotFilter not:
                return !Evaluate(not.Operand, resource);
            case HasFilter has:
                return resource.TryGet(has.Attribute, out _);
            default:
                return resource.TryGet(Filters.AttributeOf(filter), out var values) ? AnyMatches(filter, values) : null;
        }
    }

    private static bool AnyMatches(FilterNode leaf, ImmutableArray<AttributeValue> values)
    {
        foreach (var value in values)
        {
            if (LeafMatches(leaf, value))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Returns whether one attribute value satisfies a leaf.</summary>
    public static bool LeafMatches(FilterNode leaf, AttributeValue value) => leaf switch
    {
        ComparisonFilter { Operator: ComparisonOperator.Equal } comparison => value.ValueEquals(comparison.Value),
        ComparisonFilter comparison => value.IsNumeric && comparison.Value.IsNumeric && comparison.Operator switch
        {
            ComparisonOperator.LessThan => value.Number < comparison.Value.Number,
            ComparisonOperator.LessThanOrEqual => value.Number <= comparison.Value.Number,
            ComparisonOperator.GreaterThan => value.Number > comparison.Value.Number,
            ComparisonOperator.GreaterThanOrEqual => value.Number >= comparison.Value.Number,
            _ => false,
        },
        InFilter @in => @in.Values.Length > LinearScanLimit ? Lookup.GetValue(@in, static f => ValueLookup.Create(f.Values)).Contains(value) : ContainsValue(@in.Values, value),
        StartsWithFilter startsWith => value.Kind == AttributeKind.String && value.Text.StartsWith(startsWith.Prefix, StringComparison.Ordinal),
        _ => throw new ArgumentException($"{leaf.GetType().Name} is not a leaf.", nameof(leaf)),
    };

    /// <summary>Lists longer than this are looked up through a hash set built once per filter node.</summary>
    private const int LinearScanLimit = 16;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<InFilter, ValueLookup> Lookup = new();

    /// <summary>A set of list values under <see cref="AttributeValue.ValueEquals"/>: strings by ordinal text, the numeric kinds by number.</summary>
    private sealed class ValueLookup
    {
        private readonly HashSet<string> _strings;
        private readonly HashSet<double> _numbers;

        private ValueLookup(HashSet<string> strings, HashSet<double> numbers) => (_strings, _numbers) = (strings, numbers);

        public static ValueLookup Create(ImmutableArray<AttributeValue> values) =>
            new(
                [.. values.Where(static v => !v.IsNumeric).Select(static v => v.Text)],
                [.. values.Where(static v => v.IsNumeric).Select(static v => v.Number)]);

        public bool Contains(AttributeValue value) => value.IsNumeric ? _numbers.Contains(value.Number) : _strings.Contains(value.Text);
    }

    private static bool ContainsValue(ImmutableArray<AttributeValue> candidates, AttributeValue value)
    {
        foreach (var candidate in candidates)
        {
            if (candidate.ValueEquals(value))
            {
                return true;
            }
        }

        return false;
    }
}
