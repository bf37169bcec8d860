using System.Collections.Immutable;
using CopilotGuard.Filtering;

namespace CopilotGuard.Policy;

/// <summary>Reduces a condition, with the principal and request known, to a residual filter over <c>resource.*</c>.</summary>
/// <remarks>
/// The result is "definitely true" semantics in negation normal form: a leaf that cannot be decided (a missing
/// principal or request attribute, or values whose kinds do not fit the operator) becomes <c>false</c> whether or not
/// it is negated, and a negated resource leaf becomes <see cref="NotFilter"/>, which every dialect reads as "present,
/// and every value is of a fitting kind and does not satisfy it".
/// </remarks>
internal static class PartialEvaluator
{
    public static FilterNode Evaluate(Expression expression, AttributeSet principal, AttributeSet request, bool negate = false)
    {
        switch (expression)
        {
            case AndExpression and:
                // Under negation an and becomes an or (De Morgan); either way, once the left side folds to the
                // combinator's absorbing constant the right side cannot change the result and is not evaluated.
                return Combine(and.Left, and.Right, principal, request, negate, disjunction: negate);
            case OrExpression or:
                return Combine(or.Left, or.Right, principal, request, negate, disjunction: !negate);
            case NotExpression not:
                return Evaluate(not.Operand, principal, request, !negate);
            case LiteralExpression { IsList: false, Values: [{ Kind: AttributeKind.Boolean } value] }:
                return (value.Number != 0) != negate ? FilterNode.True : FilterNode.False;
            case HasExpression has:
                return has.Attribute.Scope == AttributeScope.Resource
                    ? (negate ? new NotFilter(new HasFilter(has.Attribute.Name)) : new HasFilter(has.Attribute.Name))
                    : Constant(!Lookup(has.Attribute, principal, request).IsDefault != negate);
            case StartsWithExpression startsWith:
                if (startsWith.Attribute.Scope == AttributeScope.Resource)
                {
                    var leaf = new StartsWithFilter(startsWith.Attribute.Name, startsWith.Prefix);
                    return negate ? new NotFilter(leaf) : leaf;
                }

                var known = Lookup(startsWith.Attribute, principal, request);
                return known.IsDefault ? FilterNode.False : Decided(AnyStartsWith(known, startsWith.Prefix), negate);
            case ComparisonExpression comparison:
                return Compare(comparison, principal, request, negate);
            default:
                throw new PolicySyntaxException($"a {expression.GetType().Name} cannot be used as a condition", expression.Position);
        }
    }

    private static FilterNode Combine(Expression left, Expression right, AttributeSet principal, AttributeSet request, bool negate, bool disjunction)
    {
        var first = Evaluate(left, principal, request, negate);
        if (first is ConstantFilter constant && constant.Value == disjunction)
        {
            return first;
        }

        var second = Evaluate(right, principal, request, negate);
        return disjunction ? Filters.Or(first, second) : Filters.And(first, second);
    }

    private static FilterNode Compare(ComparisonExpression comparison, AttributeSet principal, AttributeSet request, bool negate)
    {
        var op = comparison.Operator;
        if (op == ExpressionOperator.NotEqual)
        {
            op = ExpressionOperator.Equal;
            negate = !negate;
        }

        var (left, right) = (comparison.Left, comparison.Right);
        if (right is AttributeExpression { Scope: AttributeScope.Resource } && left is not AttributeExpression { Scope: AttributeScope.Resource })
        {
            (left, right) = (right, left);
            op = Flip(op);
        }

        var rightValues = Values(right, principal, request);
        if (left is AttributeExpression { Scope: AttributeScope.Resource } resource)
        {
            if (rightValues.IsDefault)
            {
                return FilterNode.False;
            }

            return ResourceLeaf(resource.Name, op, rightValues, negate);
        }

        var leftValues = Values(left, principal, request);
        if (leftValues.IsDefault || rightValues.IsDefault)
        {
            return FilterNode.False;
        }

        return Decided(AnySatisfies(leftValues, op, rightValues), negate);
    }

    /// <summary>The three-valued "or" over every pair of values (loops, not closures: this runs for every rule on every
    /// request): true when a pair satisfies the operator, unknown when none does but a pair's kinds do not fit it.</summary>
    private static bool? AnySatisfies(ImmutableArray<AttributeValue> left, ExpressionOperator op, ImmutableArray<AttributeValue> right)
    {
        bool? result = false;
        foreach (var l in left)
        {
            foreach (var r in right)
            {
                var value = Satisfies(l, op, r);
                if (value == true)
                {
                    return true;
                }

                if (value is null)
                {
                    result = null;
                }
            }
        }

        return result;
    }

    private static bool? AnyStartsWith(ImmutableArray<AttributeValue> values, string prefix)
    {
        bool? result = false;
        foreach (var value in values)
        {
            if (value.Kind != AttributeKind.String)
            {
                result = null;
            }
            else if (value.Text.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return result;
    }

    /// <summary>Builds "resource.x op values" (the "or" over the values) or its negation (the "and" of the negated
    /// leaves); an empty list of values makes the leaf false for a present attribute.</summary>
    private static FilterNode ResourceLeaf(string attribute, ExpressionOperator op, ImmutableArray<AttributeValue> values, bool negate)
    {
        FilterNode leaf;
        switch (op)
        {
            case ExpressionOperator.Equal or ExpressionOperator.In or ExpressionOperator.Overlaps:
                if (values.IsEmpty)
                {
                    // "x in []" is false for a present x; its negation holds exactly when x is present.
                    return negate ? new HasFilter(attribute) : FilterNode.False;
                }

                leaf = values.Length == 1 ? new ComparisonFilter(attribute, ComparisonOperator.Equal, values[0]) : new InFilter(attribute, values);
                break;
            default:
                {
                    var comparison = op switch
                    {
                        ExpressionOperator.LessThan => ComparisonOperator.LessThan,
                        ExpressionOperator.LessThanOrEqual => ComparisonOperator.LessThanOrEqual,
                        ExpressionOperator.GreaterThan => ComparisonOperator.GreaterThan,
                        _ => ComparisonOperator.GreaterThanOrEqual,
                    };
                    if (values.IsEmpty)
                    {
                        return negate ? new HasFilter(attribute) : FilterNode.False;
                    }

                    // Per kind, some resource value satisfies "< r" for some r exactly when it is below the largest r. A
                    // kind without an order (strings, booleans) keeps one leaf, which no value satisfies and every value
                    // leaves undecided: never true, and its negation true only for a present, empty attribute.
                    var low = op is ExpressionOperator.LessThan or ExpressionOperator.LessThanOrEqual;
                    var bounds = values
                        .GroupBy(static value => value.Kind)
                        .Select(group => low ? group.MaxBy(static value => value.Number) : group.MinBy(static value => value.Number))
                        .Select(bound => new ComparisonFilter(attribute, comparison, bound))
                        .ToList();
                    if (bounds.Count == 1)
                    {
                        leaf = bounds[0];
                        break;
                    }

                    return negate
                        ? Filters.And(bounds.Select(static b => (FilterNode)new NotFilter(b)))
                        : Filters.Or(bounds.Where(static b => AttributeValue.IsOrdered(b.Value.Kind)));
                }
        }

        return negate ? new NotFilter(leaf) : leaf;
    }

    /// <summary>Decides one pair of known values: true, false, or <see langword="null"/> when their kinds do not fit.</summary>
    internal static bool? Satisfies(AttributeValue left, ExpressionOperator op, AttributeValue right) => op switch
    {
        ExpressionOperator.Equal or ExpressionOperator.In or ExpressionOperator.Overlaps => AttributeValue.Compare(left, ComparisonOperator.Equal, right),
        ExpressionOperator.NotEqual => !AttributeValue.Compare(left, ComparisonOperator.Equal, right),
        ExpressionOperator.LessThan => AttributeValue.Compare(left, ComparisonOperator.LessThan, right),
        ExpressionOperator.LessThanOrEqual => AttributeValue.Compare(left, ComparisonOperator.LessThanOrEqual, right),
        ExpressionOperator.GreaterThan => AttributeValue.Compare(left, ComparisonOperator.GreaterThan, right),
        _ => AttributeValue.Compare(left, ComparisonOperator.GreaterThanOrEqual, right),
    };

    /// <summary>A decided value under the polarity, or <c>false</c> in both polarities when it cannot be decided.</summary>
    private static ConstantFilter Decided(bool? value, bool negate) => value is { } known ? Constant(known != negate) : FilterNode.False;

    private static ExpressionOperator Flip(ExpressionOperator op) => op switch
    {
        ExpressionOperator.LessThan => ExpressionOperator.GreaterThan,
        ExpressionOperator.LessThanOrEqual => ExpressionOperator.GreaterThanOrEqual,
        ExpressionOperator.GreaterThan => ExpressionOperator.LessThan,
        ExpressionOperator.GreaterThanOrEqual => ExpressionOperator.LessThanOrEqual,
        _ => op,
    };

    private static ImmutableArray<AttributeValue> Values(Expression expression, AttributeSet principal, AttributeSet request) => expression switch
    {
        LiteralExpression literal => literal.Values,
        AttributeExpression attribute => Lookup(attribute, principal, request),
        _ => throw new PolicySyntaxException("comparison operands must be attributes or literals", expression.Position),
    };

    private static ImmutableArray<AttributeValue> Lookup(AttributeExpression attribute, AttributeSet principal, AttributeSet request)
    {
        var set = attribute.Scope switch
        {
            AttributeScope.Principal => principal,
            AttributeScope.Request => request,
            _ => throw new PolicySyntaxException($"{attribute} is not known before the resource", attribute.Position),
        };

        return set.TryGet(attribute.Name, out var values) ? values : default;
    }

    private static ConstantFilter Constant(bool value) => value ? FilterNode.True : FilterNode.False;
}
