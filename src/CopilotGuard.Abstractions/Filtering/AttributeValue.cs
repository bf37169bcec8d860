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

    /// <summary>A point in time (UTC, millisecond precision), compared by its milliseconds since the Unix epoch.</summary>
    Timestamp,
}

/// <summary>One typed scalar value of a principal, resource or request attribute.</summary>
/// <remarks>
/// Values compare only with values of the same <see cref="Kind"/>: a comparison across kinds (<c>"5" == 5</c>,
/// <c>"true" == true</c>) cannot be decided, which never grants access and never lets a deny rule pass (see
/// <see cref="Compare"/>). Strings compare by ordinal equality. Numbers, booleans, labels and timestamps compare by
/// <see cref="Number"/> (a label's number is its rank, a timestamp's its Unix milliseconds), so every store dialect can
/// compare them as numbers once the kinds agree. Only numbers, labels and timestamps are ordered.
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

    /// <summary>Gets the numeric form (label rank, 1/0 for booleans, Unix milliseconds for timestamps); 0 for strings.</summary>
    public double Number { get; }

    /// <summary>Gets whether the value is stored and compared through <see cref="Number"/> (every kind but strings).</summary>
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

    /// <summary>Creates a timestamp value, kept to the millisecond in UTC.</summary>
    public static AttributeValue FromTimestamp(DateTimeOffset value)
    {
        var milliseconds = value.ToUnixTimeMilliseconds();
        var utc = DateTimeOffset.FromUnixTimeMilliseconds(milliseconds).UtcDateTime;
        return new(AttributeKind.Timestamp, utc.ToString("yyyy-MM-dd'T'HH:mm:ss.FFF'Z'", CultureInfo.InvariantCulture), milliseconds);
    }

    /// <summary>Creates a timestamp value from its Unix milliseconds (as stores keep it).</summary>
    public static AttributeValue FromTimestampMilliseconds(double milliseconds)
    {
        if (!double.IsFinite(milliseconds) || milliseconds != Math.Floor(milliseconds)
            || milliseconds < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || milliseconds > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            throw new ArgumentOutOfRangeException(nameof(milliseconds), "A timestamp is a whole number of milliseconds within the calendar's range.");
        }

        return FromTimestamp(DateTimeOffset.FromUnixTimeMilliseconds((long)milliseconds));
    }

    /// <summary>Parses an ISO 8601 timestamp: a date (<c>2024-03-01</c>, midnight UTC) or a date and time with an
    /// optional fraction and a <c>Z</c> or <c>+hh:mm</c> offset (UTC when omitted).</summary>
    public static bool TryParseTimestamp(string text, out AttributeValue value)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (DateTimeOffset.TryParseExact(text, TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            value = FromTimestamp(parsed);
            return true;
        }

        value = default;
        return false;
    }

    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd",
        "yyyy-MM-dd'T'HH:mm",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd'T'HH:mm:ss",
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
    ];

    /// <summary>Gets whether values of a kind are ordered (<c>&lt; &lt;= &gt; &gt;=</c>): numbers, labels and timestamps.</summary>
    public static bool IsOrdered(AttributeKind kind) => kind is AttributeKind.Number or AttributeKind.Label or AttributeKind.Timestamp;

    /// <summary>Gets the policy-language name of a kind: string, number, boolean, label or timestamp.</summary>
    public static string KindName(AttributeKind kind) => kind switch
    {
        AttributeKind.String => "string",
        AttributeKind.Number => "number",
        AttributeKind.Boolean => "boolean",
        AttributeKind.Label => "label",
        AttributeKind.Timestamp => "timestamp",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Compares two values under three-valued logic: true or false when both have the same kind and the
    /// operator applies to it, <see langword="null"/> (cannot be decided) otherwise.</summary>
    /// <remarks>A mismatch is unknown rather than false so that a negation of it (<c>!=</c>, <c>!</c>, a deny rule)
    /// cannot become true: <c>"5" == 5</c>, <c>"5" != 5</c> and <c>"abc" &gt; 3</c> are all undecided.</remarks>
    public static bool? Compare(AttributeValue left, ComparisonOperator op, AttributeValue right)
    {
        if (left.Kind != right.Kind)
        {
            return null;
        }

        if (op == ComparisonOperator.Equal)
        {
            return left.Kind == AttributeKind.String ? string.Equals(left.Text, right.Text, StringComparison.Ordinal) : left.Number == right.Number;
        }

        if (!IsOrdered(left.Kind))
        {
            return null;
        }

        return op switch
        {
            ComparisonOperator.LessThan => left.Number < right.Number,
            ComparisonOperator.LessThanOrEqual => left.Number <= right.Number,
            ComparisonOperator.GreaterThan => left.Number > right.Number,
            ComparisonOperator.GreaterThanOrEqual => left.Number >= right.Number,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
        };
    }

    /// <summary>Creates a label value from its name and rank.</summary>
    public static AttributeValue FromLabel(string name, int rank)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new(AttributeKind.Label, name, rank);
    }

    /// <summary>Returns whether two values are equal under CopilotGuard's comparison rules.</summary>
    /// <remarks>Values of different kinds are never equal (see <see cref="Compare"/> for why such a comparison is
    /// undecided rather than false in a policy); a string equals a string with the same ordinal text, other kinds compare
    /// by number.</remarks>
    public bool ValueEquals(AttributeValue other) => Compare(this, ComparisonOperator.Equal, other) == true;

    /// <inheritdoc />
    public override string ToString() => Kind == AttributeKind.String ? Text : $"{Text}:{Kind}";
}
