using System.Collections.Immutable;

namespace CopilotGuard.Filtering;

/// <summary>A node of the residual filter over <c>resource.*</c> that a policy decision pushes down to a store.</summary>
/// <remarks>
/// <para>
/// Semantics are three-valued (as in SQL): a leaf over an attribute the resource does not have is
/// unknown, <c>not</c> of unknown is unknown, and a resource passes only when the whole filter is
/// definitely true. So a missing attribute never grants access, also under negation.
/// </para>
/// <para>
/// Attributes may hold several values; a leaf is true when any value satisfies it, and its negation is
/// true when the attribute is present and no value satisfies it.
/// </para>
/// </remarks>
public abstract record FilterNode
{
    private protected FilterNode()
    {
    }

    /// <summary>Gets the filter that every resource passes.</summary>
    public static ConstantFilter True { get; } = new(true);

    /// <summary>Gets the filter that no resource passes.</summary>
    public static ConstantFilter False { get; } = new(false);
}

/// <summary>A filter that is always true or always false.</summary>
public sealed record ConstantFilter(bool Value) : FilterNode
{
    /// <inheritdoc />
    public override string ToString() => Value ? "true" : "false";
}

/// <summary>True when every operand is true.</summary>
public sealed record AndFilter(ImmutableArray<FilterNode> Operands) : FilterNode
{
    /// <inheritdoc />
    public bool Equals(AndFilter? other) => other is not null && Operands.SequenceEqual(other.Operands);

    /// <inheritdoc />
    public override int GetHashCode() => Operands.Aggregate(17, static (hash, node) => HashCode.Combine(hash, node));

    /// <inheritdoc />
    public override string ToString() => "(" + string.Join(" && ", Operands) + ")";
}

/// <summary>True when any operand is true.</summary>
public sealed record OrFilter(ImmutableArray<FilterNode> Operands) : FilterNode
{
    /// <inheritdoc />
    public bool Equals(OrFilter? other) => other is not null && Operands.SequenceEqual(other.Operands);

    /// <inheritdoc />
    public override int GetHashCode() => Operands.Aggregate(19, static (hash, node) => HashCode.Combine(hash, node));

    /// <inheritdoc />
    public override string ToString() => "(" + string.Join(" || ", Operands) + ")";
}

/// <summary>Negates its operand under three-valued logic.</summary>
public sealed record NotFilter(FilterNode Operand) : FilterNode
{
    /// <inheritdoc />
    public override string ToString() => "!" + Operand;
}

/// <summary>Operators of <see cref="ComparisonFilter"/>.</summary>
public enum ComparisonOperator
{
    /// <summary>Equal.</summary>
    Equal,

    /// <summary>Less than (numbers and labels only).</summary>
    LessThan,

    /// <summary>Less than or equal (numbers and labels only).</summary>
    LessThanOrEqual,

    /// <summary>Greater than (numbers and labels only).</summary>
    GreaterThan,

    /// <summary>Greater than or equal (numbers and labels only).</summary>
    GreaterThanOrEqual,
}

/// <summary>A leaf comparing a resource attribute with a constant.</summary>
public sealed record ComparisonFilter(string Attribute, ComparisonOperator Operator, AttributeValue Value) : FilterNode
{
    /// <inheritdoc />
    public override string ToString() => $"resource.{Attribute} {Operator} {Value}";
}

/// <summary>A leaf true when a resource attribute has a value equal to one of <see cref="Values"/>.</summary>
/// <remarks>Covers both <c>in</c> and set overlap; lists may hold thousands of values.</remarks>
public sealed record InFilter(string Attribute, ImmutableArray<AttributeValue> Values) : FilterNode
{
    /// <inheritdoc />
    public bool Equals(InFilter? other) =>
        other is not null && Attribute == other.Attribute && Values.SequenceEqual(other.Values);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Attribute, Values.Length);

    /// <inheritdoc />
    public override string ToString() => $"resource.{Attribute} in [{string.Join(", ", Values.Take(5))}{(Values.Length > 5 ? ", ..." : "")}]";
}

/// <summary>A leaf true when the resource has the attribute.</summary>
/// <remarks>Its negation is definitely true when the attribute is absent: presence is never unknown.</remarks>
public sealed record HasFilter(string Attribute) : FilterNode
{
    /// <inheritdoc />
    public override string ToString() => $"has(resource.{Attribute})";
}

/// <summary>A leaf true when a string value of a resource attribute starts with <see cref="Prefix"/> (ordinal).</summary>
public sealed record StartsWithFilter(string Attribute, string Prefix) : FilterNode
{
    /// <inheritdoc />
    public override string ToString() => $"resource.{Attribute}.startsWith({Prefix})";
}
