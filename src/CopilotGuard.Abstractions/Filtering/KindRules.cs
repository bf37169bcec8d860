namespace CopilotGuard.Filtering;

/// <summary>Which kinds of value a leaf can decide, as <see cref="FilterEvaluator.LeafValue"/> defines it.</summary>
/// <remarks>The store dialects compile a negated leaf as "present, and no value satisfies it or has a kind it cannot
/// decide"; this is the one statement of which kinds those are, shared by every connector.</remarks>
public static class KindRules
{
    /// <summary>The kind that marks an attribute present with an empty list: the attribute exists, but the row holds no
    /// value, so it never satisfies a leaf and never makes one undecided. Value kinds are 0 and above.</summary>
    public const int EmptyListKind = -1;

    /// <summary>Returns which value kinds the leaf cannot decide: none (<c>Any</c> false: an empty <c>in</c> list), every
    /// kind but <c>Decidable</c>, or every kind (<c>Decidable</c> null: an order on strings or booleans, or an <c>in</c>
    /// list holding several kinds, which a value matching none of them cannot decide).</summary>
    public static (bool Any, AttributeKind? Decidable) Undecided(FilterNode leaf) => leaf switch
    {
        ComparisonFilter c when c.Operator != ComparisonOperator.Equal && !AttributeValue.IsOrdered(c.Value.Kind) => (true, null),
        ComparisonFilter c => (true, c.Value.Kind),
        InFilter { Values.Length: 0 } => (false, null),
        InFilter @in => @in.Values.All(value => value.Kind == @in.Values[0].Kind) ? (true, @in.Values[0].Kind) : (true, null),
        StartsWithFilter => (true, AttributeKind.String),
        _ => throw new ArgumentException($"{leaf.GetType().Name} is not a comparison leaf.", nameof(leaf)),
    };
}
