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
    /// in policy syntax, with "is false" or "cannot be decided"; empty when it passes.</summary>
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

            reasons.Add(FilterFormatter.Format(conjunct) + (value is null ? " cannot be decided (an attribute is missing or holds a value of another type)" : " is false"));
        }

        if (more > 0)
        {
            reasons.Add($"and {more} more");
        }

        return string.Join("; ", reasons);
    }

    /// <summary>Evaluates the filter: true, false, or <see langword="null"/> (unknown: an attribute is missing, or a
    /// value's kind does not fit the comparison).</summary>
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
                return resource.TryGet(Filters.AttributeOf(filter), out var values) ? AnyValue(filter, values) : null;
        }
    }

    /// <summary>A leaf over a present attribute is the three-valued "or" of the leaf over each value: true when a value
    /// satisfies it, unknown when none does but some value's kind does not fit, false otherwise (an empty list is false).</summary>
    private static bool? AnyValue(FilterNode leaf, ImmutableArray<AttributeValue> values)
    {
        bool? result = false;
        foreach (var value in values)
        {
            var one = LeafValue(leaf, value);
            if (one == true)
            {
                return true;
            }

            if (one is null)
            {
                result = null;
            }
        }

        return result;
    }

    /// <summary>Returns whether one attribute value satisfies a leaf: true, false, or <see langword="null"/> when the
    /// value's kind does not fit (a string compared with a number, an order on booleans, a prefix of a number).</summary>
    /// <remarks><c>in</c> is the "or" of equalities with each listed value, so a value that matches none is unknown
    /// when the list holds a value of another kind.</remarks>
    public static bool? LeafValue(FilterNode leaf, AttributeValue value) => leaf switch
    {
        ComparisonFilter comparison => AttributeValue.Compare(value, comparison.Operator, comparison.Value),
        InFilter @in => @in.Values.Length > LinearScanLimit ? Lookup.GetValue(@in, static f => ValueLookup.Create(f.Values)).Contains(value) : ContainsValue(@in.Values, value),
        StartsWithFilter startsWith => value.Kind == AttributeKind.String ? value.Text.StartsWith(startsWith.Prefix, StringComparison.Ordinal) : null,
        _ => throw new ArgumentException($"{leaf.GetType().Name} is not a leaf.", nameof(leaf)),
    };

    /// <summary>Returns whether one attribute value definitely satisfies a leaf.</summary>
    public static bool LeafMatches(FilterNode leaf, AttributeValue value) => LeafValue(leaf, value) == true;

    /// <summary>Lists longer than this are looked up through a hash set built once per filter node.</summary>
    private const int LinearScanLimit = 16;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<InFilter, ValueLookup> Lookup = new();

    /// <summary>A list's values by kind: strings by ordinal text, the other kinds by number, and the kinds it holds.</summary>
    private sealed class ValueLookup
    {
        private readonly HashSet<string> _strings;
        private readonly HashSet<(AttributeKind, double)> _numbers;
        private readonly HashSet<AttributeKind> _kinds;

        private ValueLookup(HashSet<string> strings, HashSet<(AttributeKind, double)> numbers, HashSet<AttributeKind> kinds) =>
            (_strings, _numbers, _kinds) = (strings, numbers, kinds);

        public static ValueLookup Create(ImmutableArray<AttributeValue> values) =>
            new(
                [.. values.Where(static v => !v.IsNumeric).Select(static v => v.Text)],
                [.. values.Where(static v => v.IsNumeric).Select(static v => (v.Kind, v.Number))],
                [.. values.Select(static v => v.Kind)]);

        public bool? Contains(AttributeValue value)
        {
            if (value.IsNumeric ? _numbers.Contains((value.Kind, value.Number)) : _strings.Contains(value.Text))
            {
                return true;
            }

            // Not found: false when every listed value has the value's kind (or the list is empty), unknown otherwise.
            return _kinds.Count == 0 || (_kinds.Count == 1 && _kinds.Contains(value.Kind)) ? false : null;
        }
    }

    private static bool? ContainsValue(ImmutableArray<AttributeValue> candidates, AttributeValue value)
    {
        bool? result = false;
        foreach (var candidate in candidates)
        {
            var equal = AttributeValue.Compare(value, ComparisonOperator.Equal, candidate);
            if (equal == true)
            {
                return true;
            }

            if (equal is null)
            {
                result = null;
            }
        }

        return result;
    }
}
