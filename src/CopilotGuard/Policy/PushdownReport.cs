using System.Collections.Immutable;
using CopilotGuard.Filtering;

namespace CopilotGuard.Policy;

/// <summary>One condition over <c>resource.*</c> in a rule, and whether a store can run it natively.</summary>
/// <param name="RuleId">The rule.</param>
/// <param name="Condition">The condition, as a short description.</param>
/// <param name="Needs">The store capability it needs (several when it sits under a negation).</param>
/// <param name="PushedDown">Whether the store runs it; otherwise the broker applies it after the query.</param>
public sealed record PushdownItem(string RuleId, string Condition, FilterCapabilities Needs, bool PushedDown);

/// <summary>Says, before deployment, which conditions of a bundle a store runs natively and which stay as post-filter.</summary>
public static class PushdownReport
{
    /// <summary>Lists every resource condition of every rule with its push-down status for the given capabilities.</summary>
    public static ImmutableArray<PushdownItem> Create(PolicyBundle bundle, FilterCapabilities capabilities)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var items = ImmutableArray.CreateBuilder<PushdownItem>();
        foreach (var rule in bundle.Rules)
        {
            // Deny rules are applied negated, so their leaves need negation as well.
            Walk(rule, rule.Condition, negated: rule.Effect == PolicyEffect.Deny, capabilities, items);
        }

        return items.ToImmutable();
    }

    private static void Walk(PolicyRule rule, Expression expression, bool negated, FilterCapabilities capabilities, ImmutableArray<PushdownItem>.Builder items)
    {
        switch (expression)
        {
            case AndExpression and:
                Walk(rule, and.Left, negated, capabilities, items);
                Walk(rule, and.Right, negated, capabilities, items);
                break;
            case OrExpression or:
                Walk(rule, or.Left, negated, capabilities, items);
                Walk(rule, or.Right, negated, capabilities, items);
                break;
            case NotExpression not:
                Walk(rule, not.Operand, !negated, capabilities, items);
                break;
            case HasExpression { Attribute.Scope: AttributeScope.Resource } has:
                Add(rule, $"has({has.Attribute})", FilterCapabilities.Has, negated, capabilities, items);
                break;
            case StartsWithExpression { Attribute.Scope: AttributeScope.Resource } startsWith:
                Add(rule, $"{startsWith.Attribute}.startsWith(...)", FilterCapabilities.StartsWith, negated, capabilities, items);
                break;
            case ComparisonExpression comparison when comparison.Left is AttributeExpression { Scope: AttributeScope.Resource } || comparison.Right is AttributeExpression { Scope: AttributeScope.Resource }:
                {
                    var attribute = (comparison.Left as AttributeExpression is { Scope: AttributeScope.Resource } left ? left : (AttributeExpression)comparison.Right).ToString();
                    var other = comparison.Left is AttributeExpression { Scope: AttributeScope.Resource } ? comparison.Right : comparison.Left;
                    var needs = comparison.Operator switch
                    {
                        ExpressionOperator.Equal or ExpressionOperator.NotEqual => other is LiteralExpression { Values.Length: 1 } ? FilterCapabilities.Equality : FilterCapabilities.Equality | FilterCapabilities.In,
                        ExpressionOperator.In or ExpressionOperator.Overlaps => FilterCapabilities.Equality | FilterCapabilities.In,
                        _ => FilterCapabilities.Range,
                    };
                    Add(rule, $"{attribute} {Symbol(comparison.Operator)} {Describe(other)}", needs, negated ^ (comparison.Operator == ExpressionOperator.NotEqual), capabilities, items);
                    break;
                }
        }
    }

    private static void Add(PolicyRule rule, string condition, FilterCapabilities needs, bool negated, FilterCapabilities capabilities, ImmutableArray<PushdownItem>.Builder items)
    {
        if (negated)
        {
            needs |= FilterCapabilities.Not;
            condition = $"!({condition})";
        }

        // A list of one value becomes an equality; of several, an 'in': the store needs whichever applies.
        var pushed = (needs & ~(FilterCapabilities.Equality | FilterCapabilities.In) & ~capabilities) == 0
                     && (needs & (FilterCapabilities.Equality | FilterCapabilities.In)) is var set
                     && (set == 0 || (set & capabilities) == set);
        items.Add(new PushdownItem(rule.Id, condition, needs, pushed));
    }

    private static string Describe(Expression expression) => expression switch
    {
        AttributeExpression attribute => attribute.ToString(),
        LiteralExpression { IsList: true } list => $"[{list.Values.Length} values]",
        LiteralExpression literal => literal.Values[0].Kind == AttributeKind.String ? $"\"{literal.Values[0].Text}\"" : literal.Values[0].Text,
        _ => "...",
    };

    private static string Symbol(ExpressionOperator op) => op switch
    {
        ExpressionOperator.Equal => "==",
        ExpressionOperator.NotEqual => "!=",
        ExpressionOperator.LessThan => "<",
        ExpressionOperator.LessThanOrEqual => "<=",
        ExpressionOperator.GreaterThan => ">",
        ExpressionOperator.GreaterThanOrEqual => ">=",
        ExpressionOperator.In => "in",
        _ => "overlaps",
    };
}
