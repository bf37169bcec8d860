using System.Globalization;

namespace CopilotGuard.Filtering;

/// <summary>Names the type of an <see cref="AttributeValue"/>.</summary>
public enum AttributeKind
{
    /// <summary>A string compared by ordinal equality and prefix.</summary>
    String,

    /// <summary>A number compared by value.</summary>
    Number,

    /// <summary>A boolean, compared as 1 (true) or 0 (false).</summary>
    Boolean,

    /// <summary>A sensitivity label, compared by its rank in the taxonomy.</summary>
    Label,
}

/// <summary>One typed scalar value of a principal, resource or request attribute.</summary>
/// <remarks>
/// Strings compare by ordinal equality. Numbers, booleans and labels compare by <see cref="Number"/>
/// (a label's number is its rank), so every store dialect can compare them as numbers.
/// </remarks>
public readonly record struct AttributeValue
{
    private AttributeValue(AttributeKind kind, string text, double number)
    {
        Kind = kind;
        Text = text;
        Number = number;
    }

    /// <summary>Gets the type of the value.</summary>
    public AttributeKind Kind { get; }

    /// <summary>Gets the text form: the string itself, the label name, or the invariant number.</summary>
    public string Text { get; }

    /// <summary>Gets the numeric form (label rank, 1/0 for booleans); 0 for strings.</summary>
    public double Number { get; }

    /// <summary>Gets whether the value compares as a number (numbers, booleans, labels).</summary>
    public bool IsNumeric => Kind != AttributeKind.String;

    /// <summary>Creates a string value.</summary>
    /// <exception cref="ArgumentException">The string holds a lone UTF-16 surrogate, which no store can represent.</exception>
    public static AttributeValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        EnsureValidUnicode(value);
        return new(AttributeKind.String, value, 0);
    }

    /// <summary>Throws when a string holds a lone UTF-16 surrogate (it has no UTF-8 form, so stores would disagree on it).</summary>
    /// <exception cref="ArgumentException">The string is not valid Unicode.</exception>
    public static void EnsureValidUnicode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (!char.IsSurrogate(c))
            {
                continue;
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
                continue;
            }

            throw new ArgumentException($"The value holds a lone UTF-16 surrogate at position {i}; attribute values must be valid Unicode.", nameof(value));
        }
    }

    /// <summary>Creates a number value.</summary>
    public static AttributeValue FromNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), "Attribute numbers must be finite.");
        }

        return new(AttributeKind.Number, value.ToString("R", CultureInfo.InvariantCulture), value);
    }

    /// <summary>Creates a boolean value.</summary>
    public static AttributeValue FromBoolean(bool value) =>
        new(AttributeKind.Boolean, value ? "true" : "false", value ? 1 : 0);

    /// <summary>Creates a label value from its name and rank.</summary>
    public static AttributeValue FromLabel(string name, int rank)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new(AttributeKind.Label, name, rank);
    }

    /// <summary>Returns whether two values are equal under CopilotGuard's comparison rules.</summary>
    /// <remarks>A string equals only a string with the same ordinal text; numeric kinds compare by number.</remarks>
    public bool ValueEquals(AttributeValue other) =>
        IsNumeric
            ? other.IsNumeric && Number == other.Number
            : !other.IsNumeric && string.Equals(Text, other.Text, StringComparison.Ordinal);

    /// <inheritdoc />
    public override string ToString() => Kind == AttributeKind.String ? Text : $"{Text}:{Kind}";
}
