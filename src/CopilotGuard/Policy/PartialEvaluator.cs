using System.Collections.Immutable;
using CopilotGuard.Filtering;

namespace CopilotGuard.Policy;

/// <summary>Reduces a condition, with the principal and request known, to a residual filter over <c>resource.*</c>.</summary>
/// <remarks>
/// The result is "definitely true" semantics in negation normal form: a leaf over a missing principal or
/// request attribute becomes <c>false</c> whether or not it is negated, and a negated resource leaf becomes
/// <see cref="NotFilter"/>, which every dialect reads as "present and not satisfied".
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
                return known.IsDefault ? FilterNode.False : Constant(AnyStartsWith(known, startsWith.Prefix) != negate);
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

            var leaf = ResourceLeaf(resource.Name, op, rightValues);
            return leaf is null
                ? (negate ? new HasFilter(resource.Name) : FilterNode.False)
                : (negate ? new NotFilter(leaf) : leaf);
        }

        var leftValues = Values(left, principal, request);
        if (leftValues.IsDefault || rightValues.IsDefault)
        {
            return FilterNode.False;
        }

        return Constant(AnySatisfies(leftValues, op, rightValues) != negate);
    }

    /// <summary>Whether some pair of values satisfies the operator (loops, not closures: this runs for every rule on every request).</summary>
    private static bool AnySatisfies(ImmutableArray<AttributeValue> left, ExpressionOperator op, ImmutableArray<AttributeValue> right)
    {
        foreach (var l in left)
        {
            foreach (var r in right)
            {
                if (Satisfies(l, op, r))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool AnyStartsWith(ImmutableArray<AttributeValue> values, string prefix)
    {
        foreach (var value in values)
        {
            if (value.Kind == AttributeKind.String && value.Text.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static FilterNode? ResourceLeaf(string attribute, ExpressionOperator op, ImmutableArray<AttributeValue> values)
    {
        switch (op)
        {
            case ExpressionOperator.Equal or ExpressionOperator.In or ExpressionOperator.Overlaps:
                return values.Length == 1
                    ? new ComparisonFilter(attribute, ComparisonOperator.Equal, values[0])
                    : values.IsEmpty ? null : new InFilter(attribute, values);
            default:
                {
                    var numeric = values.Where(static value => value.IsNumeric).ToList();
                    if (numeric.Count == 0)
                    {
                        return null;
                    }

                    // Some value of the resource satisfies "< r" for some r exactly when it is below the largest r.
                    var bound = op is ExpressionOperator.LessThan or ExpressionOperator.LessThanOrEqual
                        ? numeric.MaxBy(static value => value.Number)
                        : numeric.MinBy(static value => value.Number);
                    return new ComparisonFilter(attribute, op switch
                    {
                        ExpressionOperator.LessThan => ComparisonOperator.LessThan,
                        ExpressionOperator.LessThanOrEqual => ComparisonOperator.LessThanOrEqual,
                        ExpressionOperator.GreaterThan => ComparisonOperator.GreaterThan,
                        _ => ComparisonOperator.GreaterThanOrEqual,
                    }, bound);
                }
        }
    }

    /// <summary>Decides one pair of known values.</summary>
    internal static bool Satisfies(AttributeValue left, ExpressionOperator op, AttributeValue right) => op switch
    {
        ExpressionOperator.Equal or ExpressionOperator.In or ExpressionOperator.Overlaps => left.ValueEquals(right),
        ExpressionOperator.NotEqual => !left.ValueEquals(right),
        _ => left.IsNumeric && right.IsNumeric && op switch
        {
            ExpressionOperator.LessThan => left.Number < right.Number,
            ExpressionOperator.LessThanOrEqual => left.Number <= right.Number,
            ExpressionOperator.GreaterThan => left.Number > right.Number,
            _ => left.Number >= right.Number,
        },
    };

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
