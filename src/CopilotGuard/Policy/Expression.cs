using System.Collections.Immutable;
using CopilotGuard.Filtering;

namespace CopilotGuard.Policy;

/// <summary>The scope an attribute reference reads from.</summary>
public enum AttributeScope
{
    /// <summary>The caller (<c>principal.*</c>).</summary>
    Principal,

    /// <summary>The chunk being decided (<c>resource.*</c>).</summary>
    Resource,

    /// <summary>The request (<c>request.*</c>: purpose, destination).</summary>
    Request,
}

/// <summary>Operators of a policy comparison.</summary>
public enum ExpressionOperator
{
    /// <summary><c>==</c></summary>
    Equal,

    /// <summary><c>!=</c></summary>
    NotEqual,

    /// <summary><c>&lt;</c></summary>
    LessThan,

    /// <summary><c>&lt;=</c></summary>
    LessThanOrEqual,

    /// <summary><c>&gt;</c></summary>
    GreaterThan,

    /// <summary><c>&gt;=</c></summary>
    GreaterThanOrEqual,

    /// <summary><c>in</c>: some value of the left side is among the right side's values.</summary>
    In,

    /// <summary><c>overlaps</c>: the two sides share a value.</summary>
    Overlaps,
}

/// <summary>A node of a parsed policy condition.</summary>
public abstract record Expression(int Position);

/// <summary>A reference such as <c>principal.department</c>.</summary>
public sealed record AttributeExpression(int Position, AttributeScope Scope, string Name) : Expression(Position)
{
    /// <inheritdoc />
    public override string ToString() => $"{Scope.ToString().ToLowerInvariant()}.{Name}";
}

/// <summary>A literal scalar or list.</summary>
public sealed record LiteralExpression(int Position, ImmutableArray<AttributeValue> Values, bool IsList) : Expression(Position)
{
    /// <summary>Gets whether the literal is a single string (which may still become a label).</summary>
    public bool IsString => !IsList && Values.Length == 1 && Values[0].Kind == AttributeKind.String;
}

/// <summary>A comparison between two operands.</summary>
public sealed record ComparisonExpression(int Position, ExpressionOperator Operator, Expression Left, Expression Right) : Expression(Position);

/// <summary><c>a &amp;&amp; b</c></summary>
public sealed record AndExpression(int Position, Expression Left, Expression Right) : Expression(Position);

/// <summary><c>a || b</c></summary>
public sealed record OrExpression(int Position, Expression Left, Expression Right) : Expression(Position);

/// <summary><c>!a</c></summary>
public sealed record NotExpression(int Position, Expression Operand) : Expression(Position);

/// <summary><c>has(x.y)</c>: the attribute is present.</summary>
public sealed record HasExpression(int Position, AttributeExpression Attribute) : Expression(Position);

/// <summary><c>x.y.startsWith("p")</c></summary>
public sealed record StartsWithExpression(int Position, AttributeExpression Attribute, string Prefix) : Expression(Position);
