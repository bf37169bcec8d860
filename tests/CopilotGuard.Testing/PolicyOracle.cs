using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Policy;

namespace CopilotGuard.Testing;

/// <summary>A deliberately naive reference implementation of the policy semantics as the policy language reference
/// (docs/policy-language.md) states them, written independently of the partial evaluator, the filter evaluator and the
/// filter compilers: it evaluates each rule's parsed condition directly on the principal, request and resource with
/// three-valued logic, and compares values with its own rules (it calls no comparison of the product).</summary>
/// <remarks>
/// <para>A resource is visible when some allow rule is definitely true and every deny rule is definitely false (a deny
/// rule that cannot be decided denies). A delegated request must pass for both principals.</para>
/// <para>Values compare only with values of the same kind; a comparison across kinds, an order on strings or booleans
/// and a prefix of a non-string are unknown. A comparison of multi-valued operands is the "or" over every pair; an
/// empty list is present (the "or" over no pairs is false), a missing attribute makes the comparison unknown.</para>
/// </remarks>
public static class PolicyOracle
{
    public static bool Allows(PolicyBundle bundle, CallerPrincipals caller, AttributeSet request, AttributeSet resource) =>
        Allows(bundle, caller.Subject, request, resource) && (caller.Actor is null || Allows(bundle, caller.Actor, request, resource));

    public static bool Allows(PolicyBundle bundle, Principal principal, AttributeSet request, AttributeSet resource)
    {
        var principalAttributes = Augment(principal);
        var allowed = false;
        foreach (var rule in bundle.Rules)
        {
            var value = Eval(rule.Condition, principalAttributes, request, resource);
            if (rule.Effect == PolicyEffect.Deny && value != false)
            {
                return false;
            }

            allowed |= rule.Effect == PolicyEffect.Allow && value == true;
        }

        return allowed;
    }

    private static Dictionary<string, ImmutableArray<AttributeValue>> Augment(Principal principal)
    {
        var map = principal.Attributes.ToDictionary(static p => p.Key, static p => p.Value);
        map["id"] = [AttributeValue.FromString(principal.Id)];
        map["kind"] = [AttributeValue.FromString(principal.Kind.ToString().ToLowerInvariant())];
        return map;
    }

    public static bool? Eval(Expression expression, IReadOnlyDictionary<string, ImmutableArray<AttributeValue>> principal, AttributeSet request, AttributeSet resource)
    {
        switch (expression)
        {
            case AndExpression and:
                {
                    var l = Eval(and.Left, principal, request, resource);
                    var r = Eval(and.Right, principal, request, resource);
                    if (l == false || r == false)
                    {
                        return false;
                    }

                    return l == true && r == true ? true : null;
                }

            case OrExpression or:
                {
                    var l = Eval(or.Left, principal, request, resource);
                    var r = Eval(or.Right, principal, request, resource);
                    if (l == true || r == true)
                    {
                        return true;
                    }

                    return l == false && r == false ? false : null;
                }

            case NotExpression not:
                {
                    var v = Eval(not.Operand, principal, request, resource);
                    return v is null ? null : !v;
                }

            case LiteralExpression literal:
                return literal.Values[0].Number != 0;
            case HasExpression has:
                return !Get(has.Attribute, principal, request, resource).IsDefault;
            case StartsWithExpression startsWith:
                {
                    var values = Get(startsWith.Attribute, principal, request, resource);
                    return values.IsDefault ? null : AnyPair(values, [AttributeValue.FromString(startsWith.Prefix)], static (v, prefix) =>
                        v.Kind != AttributeKind.String ? null : v.Text.StartsWith(prefix.Text, StringComparison.Ordinal));
                }

            case ComparisonExpression comparison:
                {
                    var left = Values(comparison.Left, principal, request, resource);
                    var right = Values(comparison.Right, principal, request, resource);
                    if (left.IsDefault || right.IsDefault)
                    {
                        return null;
                    }

                    return comparison.Operator switch
                    {
                        ExpressionOperator.NotEqual => Not(AnyPair(left, right, Equal)),
                        ExpressionOperator.Equal or ExpressionOperator.In or ExpressionOperator.Overlaps => AnyPair(left, right, Equal),
                        var op => AnyPair(left, right, (l, r) => Order(l, op, r)),
                    };
                }

            default:
                throw new InvalidOperationException(expression.GetType().Name);
        }
    }

    private static bool? Not(bool? value) => value is null ? null : !value;

    /// <summary>The three-valued "or" of a pairwise test over every (left, right) pair; false over no pairs.</summary>
    private static bool? AnyPair(ImmutableArray<AttributeValue> left, ImmutableArray<AttributeValue> right, Func<AttributeValue, AttributeValue, bool?> test)
    {
        var unknown = false;
        foreach (var l in left)
        {
            foreach (var r in right)
            {
                switch (test(l, r))
                {
                    case true:
                        return true;
                    case null:
                        unknown = true;
                        break;
                }
            }
        }

        return unknown ? null : false;
    }

    private static bool? Equal(AttributeValue l, AttributeValue r)
    {
        if (l.Kind != r.Kind)
        {
            return null;
        }

        return l.Kind == AttributeKind.String ? string.Equals(l.Text, r.Text, StringComparison.Ordinal) : l.Number == r.Number;
    }

    private static bool? Order(AttributeValue l, ExpressionOperator op, AttributeValue r)
    {
        if (l.Kind != r.Kind || l.Kind is not (AttributeKind.Number or AttributeKind.Label or AttributeKind.Timestamp))
        {
            return null;
        }

        return op switch
        {
            ExpressionOperator.LessThan => l.Number < r.Number,
            ExpressionOperator.LessThanOrEqual => l.Number <= r.Number,
            ExpressionOperator.GreaterThan => l.Number > r.Number,
            ExpressionOperator.GreaterThanOrEqual => l.Number >= r.Number,
            _ => throw new InvalidOperationException(op.ToString()),
        };
    }

    private static ImmutableArray<AttributeValue> Values(Expression e, IReadOnlyDictionary<string, ImmutableArray<AttributeValue>> principal, AttributeSet request, AttributeSet resource) => e switch
    {
        LiteralExpression literal => literal.Values,
        AttributeExpression attribute => Get(attribute, principal, request, resource),
        _ => throw new InvalidOperationException(e.GetType().Name),
    };

    private static ImmutableArray<AttributeValue> Get(AttributeExpression attribute, IReadOnlyDictionary<string, ImmutableArray<AttributeValue>> principal, AttributeSet request, AttributeSet resource)
    {
        switch (attribute.Scope)
        {
            case AttributeScope.Principal:
                return principal.TryGetValue(attribute.Name, out var p) ? p : default;
            case AttributeScope.Request:
                return request.TryGet(attribute.Name, out var q) ? q : default;
            default:
                return resource.TryGet(attribute.Name, out var r) ? r : default;
        }
    }
}
