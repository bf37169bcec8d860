using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CopilotGuard.Obligations;

/// <summary>What happens to one field of a structured row before it leaves: keep, generalize, mask, hash or drop.</summary>
/// <remarks>When several obligations name the same field, the strictest wins: drop &gt; hash &gt; mask &gt; generalize &gt; keep.</remarks>
public abstract record FieldObligation
{
    private protected FieldObligation()
    {
    }

    /// <summary>Gets the operator name as written in policies.</summary>
    public abstract string Name { get; }

    /// <summary>Gets how strict the obligation is; higher wins.</summary>
    public abstract int Strictness { get; }

    /// <summary>Gets the obligation that returns the field unchanged.</summary>
    public static KeepField Keep { get; } = new();

    /// <summary>Gets the obligation that removes the field (and its value from the text).</summary>
    public static DropField Drop { get; } = new();

    /// <summary>Transforms a value; returns <see langword="null"/> to withhold it entirely.</summary>
    public abstract JsonElement? Apply(JsonElement value, byte[] hashKey);

    /// <summary>Returns the stricter of two obligations (the first on a tie).</summary>
    public static FieldObligation Stricter(FieldObligation a, FieldObligation b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return b.Strictness > a.Strictness ? b : a;
    }

    private protected static JsonElement String(string value) => JsonSerializer.SerializeToElement(value);
}

/// <summary>Returns the field unchanged.</summary>
public sealed record KeepField : FieldObligation
{
    /// <inheritdoc />
    public override string Name => "keep";

    /// <inheritdoc />
    public override int Strictness => 0;

    /// <inheritdoc />
    public override JsonElement? Apply(JsonElement value, byte[] hashKey) => value;
}

/// <summary>Generalizes a value: numbers to bands of <see cref="BandWidth"/>, dates to a month or year, text to a fixed category.</summary>
/// <param name="BandWidth">For numbers: the band width (e.g. 10000 gives <c>120,000–130,000</c>).</param>
/// <param name="DatePrecision">For dates: <c>month</c> or <c>year</c>.</param>
/// <param name="Category">For text: the category that replaces the value.</param>
public sealed record GeneralizeField(double? BandWidth = null, string? DatePrecision = null, string? Category = null) : FieldObligation
{
    /// <inheritdoc />
    public override string Name => "generalize";

    /// <inheritdoc />
    public override int Strictness => 1;

    /// <inheritdoc />
    public override JsonElement? Apply(JsonElement value, byte[] hashKey)
    {
        if (value.ValueKind == JsonValueKind.Number && BandWidth is { } width && value.TryGetDouble(out var number))
        {
            var low = Math.Floor(number / width) * width;
            return String($"{low.ToString("N0", CultureInfo.InvariantCulture)}–{(low + width).ToString("N0", CultureInfo.InvariantCulture)}");
        }

        if (value.ValueKind == JsonValueKind.String && DatePrecision is { } precision
            && DateOnly.TryParse(value.GetString(), CultureInfo.InvariantCulture, out var date))
        {
            return String(precision == "month" ? date.ToString("yyyy-MM", CultureInfo.InvariantCulture) : date.Year.ToString(CultureInfo.InvariantCulture));
        }

        if (Category is not null)
        {
            return String(Category);
        }

        // A value this obligation cannot generalize is withheld rather than passed through.
        return null;
    }
}

/// <summary>Masks all but the last <see cref="KeepLast"/> characters of a value.</summary>
/// <param name="KeepLast">How many trailing characters stay visible.</param>
/// <param name="MaskCharacter">The masking character.</param>
public sealed record MaskField(int KeepLast = 4, char MaskCharacter = '*') : FieldObligation
{
    /// <inheritdoc />
    public override string Name => "mask";

    /// <inheritdoc />
    public override int Strictness => 2;

    /// <inheritdoc />
    public override JsonElement? Apply(JsonElement value, byte[] hashKey)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        var keep = Math.Clamp(KeepLast, 0, text.Length);
        return String(new string(MaskCharacter, text.Length - keep) + text[^keep..]);
    }
}

/// <summary>Replaces a value with its keyed HMAC-SHA256 (stable per tenant, so equal values still join).</summary>
public sealed record HashField : FieldObligation
{
    /// <inheritdoc />
    public override string Name => "hash";

    /// <inheritdoc />
    public override int Strictness => 3;

    /// <inheritdoc />
    public override JsonElement? Apply(JsonElement value, byte[] hashKey)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        return String("hmac:" + Convert.ToHexStringLower(HMACSHA256.HashData(hashKey, Encoding.UTF8.GetBytes(text)))[..32]);
    }
}

/// <summary>Withholds the field.</summary>
public sealed record DropField : FieldObligation
{
    /// <inheritdoc />
    public override string Name => "drop";

    /// <inheritdoc />
    public override int Strictness => 4;

    /// <inheritdoc />
    public override JsonElement? Apply(JsonElement value, byte[] hashKey) => null;
}
