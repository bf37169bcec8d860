using System.Collections.Immutable;

namespace CopilotGuard.Filtering;

/// <summary>Builds simplified filters and rewrites them into negation normal form.</summary>
public static class Filters
{
    /// <summary>Returns the conjunction of the operands, folding constants and flattening nested ands.</summary>
    public static FilterNode And(IEnumerable<FilterNode> operands) =>
        Combine(operands, absorbing: false, static nested => nested is AndFilter and ? and.Operands : default, static items => new AndFilter(items));

    /// <summary>Returns the conjunction of two operands.</summary>
    public static FilterNode And(FilterNode left, FilterNode right) => FoldConstant(left, right, absorbing: false) ?? And([left, right]);

    /// <summary>Returns the disjunction of the operands, folding constants and flattening nested ors.</summary>
    public static FilterNode Or(IEnumerable<FilterNode> operands) =>
        Combine(operands, absorbing: true, static nested => nested is OrFilter or ? or.Operands : default, static items => new OrFilter(items));

    /// <summary>Returns the disjunction of two operands.</summary>
    public static FilterNode Or(FilterNode left, FilterNode right) => FoldConstant(left, right, absorbing: true) ?? Or([left, right]);

    /// <summary>Combines two operands without allocating when either is a constant: the absorbing constant wins and the
    /// identity constant yields the other operand (what <see cref="Combine"/> returns for them); null otherwise.</summary>
    private static FilterNode? FoldConstant(FilterNode left, FilterNode right, bool absorbing)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        if (left is ConstantFilter l)
        {
            return l.Value == absorbing ? l : right;
        }

        if (right is ConstantFilter r)
        {
            return r.Value == absorbing ? r : left;
        }

        return null;
    }

    /// <summary>Builds an and (<paramref name="absorbing"/> false) or an or (true): the absorbing constant wins, the
    /// identity constant is dropped, nested nodes of the same kind are flattened and repeated operands removed.</summary>
    private static FilterNode Combine(
        IEnumerable<FilterNode> operands,
        bool absorbing,
        Func<FilterNode, ImmutableArray<FilterNode>> nestedOperands,
        Func<ImmutableArray<FilterNode>, FilterNode> create)
    {
        ArgumentNullException.ThrowIfNull(operands);
        var builder = ImmutableArray.CreateBuilder<FilterNode>();
        foreach (var operand in operands)
        {
            if (operand is ConstantFilter constant)
            {
                if (constant.Value == absorbing)
                {
                    return constant;
                }

                continue;
            }

            var nested = nestedOperands(operand);
            if (!nested.IsDefault)
            {
                builder.AddRange(nested);
            }
            else if (!builder.Contains(operand))
            {
                builder.Add(operand);
            }
        }

        return builder.Count switch
        {
            0 => absorbing ? FilterNode.False : FilterNode.True,
            1 => builder[0],
            _ => create(builder.ToImmutable()),
        };
    }

    /// <summary>Returns the negation of a leaf or constant, or pushes the negation inward (three-valued De Morgan).</summary>
    public static FilterNode Not(FilterNode operand) => ToNegationNormalForm(operand, negate: true);

    /// <summary>Rewrites a filter so that <see cref="NotFilter"/> wraps only leaves; the meaning is unchanged.</summary>
    /// <remarks>De Morgan's laws and double negation hold in three-valued logic, so the rewrite is exact.</remarks>
    public static FilterNode ToNegationNormalForm(FilterNode node) => ToNegationNormalForm(node, negate: false);

    private static FilterNode ToNegationNormalForm(FilterNode node, bool negate)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node switch
        {
            ConstantFilter constant => negate ? (constant.Value ? FilterNode.False : FilterNode.True) : constant,
            NotFilter not => ToNegationNormalForm(not.Operand, !negate),
            AndFilter and => negate
                ? Or(and.Operands.Select(operand => ToNegationNormalForm(operand, negate: true)))
                : And(and.Operands.Select(operand => ToNegationNormalForm(operand, negate: false))),
            OrFilter or => negate
                ? And(or.Operands.Select(operand => ToNegationNormalForm(operand, negate: true)))
                : Or(or.Operands.Select(operand => ToNegationNormalForm(operand, negate: false))),
            _ => negate ? new NotFilter(node) : node,
        };
    }

    /// <summary>Gets the attribute a leaf reads.</summary>
    /// <exception cref="ArgumentException">The node is not a leaf.</exception>
    public static string AttributeOf(FilterNode leaf) => leaf switch
    {
        ComparisonFilter comparison => comparison.Attribute,
        InFilter @in => @in.Attribute,
        HasFilter has => has.Attribute,
        StartsWithFilter startsWith => startsWith.Attribute,
        _ => throw new ArgumentException($"{leaf.GetType().Name} is not a leaf.", nameof(leaf)),
    };

    /// <summary>Returns the capability a node needs from a store.</summary>
    public static FilterCapabilities RequiredCapability(FilterNode leaf) => leaf switch
    {
        ComparisonFilter { Operator: ComparisonOperator.Equal } => FilterCapabilities.Equality,
        ComparisonFilter => FilterCapabilities.Range,
        InFilter => FilterCapabilities.In,
        HasFilter => FilterCapabilities.Has,
        StartsWithFilter => FilterCapabilities.StartsWith,
        _ => FilterCapabilities.None,
    };

    /// <summary>Splits a filter into the part a store can push down and the exact filter the broker applies after.</summary>
    /// <remarks>
    /// The filter is brought into negation normal form, where it is monotone in its leaves; each leaf the store
    /// cannot run is replaced with <c>true</c>, so the pushed filter is never narrower than the exact one.
    /// The exact filter is always applied to what the store returns: nothing is dropped silently.
    /// </remarks>
    public static (FilterNode Pushed, FilterNode Exact, bool IsExact) Split(FilterNode filter, FilterCapabilities capabilities)
    {
        var exact = ToNegationNormalForm(filter);
        var pushed = Widen(exact, capabilities);
        return (pushed, exact, pushed.Equals(exact));
    }

    private static FilterNode Widen(FilterNode node, FilterCapabilities capabilities) => node switch
    {
        ConstantFilter => node,
        AndFilter and => And(and.Operands.Select(operand => Widen(operand, capabilities))),
        OrFilter or => Or(or.Operands.Select(operand => Widen(operand, capabilities))),
        NotFilter not => capabilities.HasFlag(FilterCapabilities.Not) && Supports(not.Operand, capabilities) ? node : FilterNode.True,
        _ => Supports(node, capabilities) ? node : FilterNode.True,
    };

    private static bool Supports(FilterNode leaf, FilterCapabilities capabilities)
    {
        var required = RequiredCapability(leaf);
        return required != FilterCapabilities.None && (capabilities & required) == required;
    }
}
