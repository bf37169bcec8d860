using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Policy;

namespace CopilotGuard.Testing;

/// <summary>A deliberately naive reference implementation of the policy semantics, written independently of the
/// partial evaluator and the filter compilers: it evaluates each rule's parsed condition directly on the principal,
/// request and resource with three-valued logic.</summary>
/// <remarks>
/// A resource is visible when some allow rule is definitely true and every deny rule is definitely false (a deny
/// rule that cannot be decided, for lack of an attribute, denies). A delegated request must pass for both principals.
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
                return Get(has.Attribute, principal, request, resource) is { IsDefaultOrEmpty: false };
            case StartsWithExpression startsWith:
                {
                    var values = Get(startsWith.Attribute, principal, request, resource);
                    if (values.IsDefaultOrEmpty)
                    {
                        return null;
                    }

                    return values.Any(v => v.Kind == AttributeKind.String && v.Text.StartsWith(startsWith.Prefix, StringComparison.Ordinal));
                }

            case ComparisonExpression comparison:
                {
                    var left = Values(comparison.Left, principal, request, resource);
                    var right = Values(comparison.Right, principal, request, resource);
                    if (left.IsDefaultOrEmpty && comparison.Left is AttributeExpression)
                    {
                        return null;
                    }

                    if (right.IsDefaultOrEmpty && comparison.Right is AttributeExpression)
                    {
                        return null;
                    }

                    if (comparison.Operator == ExpressionOperator.NotEqual)
                    {
                        return !left.Any(l => right.Any(r => Equal(l, r)));
                    }

                    return left.Any(l => right.Any(r => Holds(l, comparison.Operator, r)));
                }

            default:
                throw new InvalidOperationException(expression.GetType().Name);
        }
    }

    private static bool Equal(AttributeValue l, AttributeValue r) =>
        (l.Kind == AttributeKind.String) == (r.Kind == AttributeKind.String)
        && (l.Kind == AttributeKind.String ? string.Equals(l.Text, r.Text, StringComparison.Ordinal) : l.Number == r.Number);

    private static bool Holds(AttributeValue l, ExpressionOperator op, AttributeValue r)
    {
        if (op is ExpressionOperator.Equal or ExpressionOperator.In or ExpressionOperator.Overlaps)
        {
            return Equal(l, r);
        }

        if (l.Kind == AttributeKind.String || r.Kind == AttributeKind.String)
        {
            return false;
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
