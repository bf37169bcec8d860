namespace CopilotGuard.Anonymization;

/// <summary>Describes how one entity is transformed; the concrete records name the operator and carry its settings.</summary>
/// <remarks>Operator names match Presidio's: replace, redact, mask, hash, encrypt, keep, plus generalize and pseudonymize.</remarks>
public abstract record AnonymizationOperator
{
    private protected AnonymizationOperator()
    {
    }

    /// <summary>Gets the operator's configuration name.</summary>
    public abstract string Name { get; }

    /// <summary>Creates a <see cref="ReplaceOperator"/>.</summary>
    /// <param name="newValue">The replacement, or <see langword="null"/> for the typed placeholder such as &lt;EMAIL_ADDRESS&gt;.</param>
    /// <returns>The operator.</returns>
    public static ReplaceOperator Replace(string? newValue = null) => new(newValue);

    /// <summary>Gets the operator that removes the entity.</summary>
    public static RedactOperator Redact { get; } = new();

    /// <summary>Gets the operator that leaves the entity as it is.</summary>
    public static KeepOperator Keep { get; } = new();

    /// <summary>Gets the operator that replaces the entity with an HMAC-SHA256 of it under the tenant key.</summary>
    public static HashOperator Hash { get; } = new();

    /// <summary>Gets the operator that replaces the entity with its AES-GCM ciphertext under the tenant key.</summary>
    public static EncryptOperator Encrypt { get; } = new();

    /// <summary>Gets the operator that keeps a coarser value: a date's year, an age's band.</summary>
    public static GeneralizeOperator Generalize { get; } = new();

    /// <summary>Gets the operator that replaces the entity with a placeholder that is consistent within a conversation.</summary>
    public static PseudonymizeOperator Pseudonymize { get; } = new();

    /// <summary>Creates a <see cref="MaskOperator"/>.</summary>
    /// <param name="maskingChar">The character written over the value.</param>
    /// <param name="charsToMask">How many characters to mask.</param>
    /// <param name="fromEnd">Whether masking starts at the end of the value.</param>
    /// <returns>The operator.</returns>
    public static MaskOperator Mask(char maskingChar = '*', int charsToMask = int.MaxValue, bool fromEnd = false) => new(maskingChar, charsToMask, fromEnd);

    /// <summary>Parses an operator from its configuration name and parameters; throws <see cref="ArgumentException"/> on an unknown name or parameter.</summary>
    /// <param name="name">replace, redact, mask, hash, encrypt, generalize, keep or pseudonymize.</param>
    /// <param name="parameters">Optional parameters: new_value (replace); masking_char, chars_to_mask, from_end (mask); age_band (generalize).</param>
    /// <returns>The operator.</returns>
    public static AnonymizationOperator Parse(string name, IReadOnlyDictionary<string, string>? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        parameters ??= new Dictionary<string, string>();
        string? Get(string key) => parameters.TryGetValue(key, out string? v) ? v : null;
        return name.ToLowerInvariant() switch
        {
            "replace" => Replace(Get("new_value")),
            "redact" => Redact,
            "keep" => Keep,
            "hash" => Hash,
            "encrypt" => Encrypt,
            "pseudonymize" => Pseudonymize,
            "generalize" => new GeneralizeOperator(Get("age_band") is { } band ? int.Parse(band, System.Globalization.CultureInfo.InvariantCulture) : 10),
            "mask" => Mask(
                Get("masking_char") is { Length: 1 } c ? c[0] : '*',
                Get("chars_to_mask") is { } n ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : int.MaxValue,
                Get("from_end") is { } e && bool.Parse(e)),
            _ => throw new ArgumentException($"Unknown anonymization operator '{name}'. Expected replace, redact, mask, hash, encrypt, generalize, keep or pseudonymize.", nameof(name)),
        };
    }
}

/// <summary>Replaces the entity with a fixed value or its typed placeholder (&lt;PERSON&gt;).</summary>
/// <param name="NewValue">The replacement; <see langword="null"/> means the typed placeholder.</param>
public sealed record ReplaceOperator(string? NewValue = null) : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "replace";
}

/// <summary>Removes the entity from the text.</summary>
public sealed record RedactOperator : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "redact";
}

/// <summary>Leaves the entity unchanged (it is still reported).</summary>
public sealed record KeepOperator : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "keep";
}

/// <summary>Replaces the entity with the lowercase hex HMAC-SHA256 of its value under the tenant hash key; stable across requests.</summary>
public sealed record HashOperator : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "hash";
}

/// <summary>Replaces the entity with &lt;ENC:base64url&gt; of its AES-GCM ciphertext; <see cref="Anonymizer.DecryptToken"/> reverses it.</summary>
public sealed record EncryptOperator : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "encrypt";
}

/// <summary>Writes <paramref name="MaskingChar"/> over up to <paramref name="CharsToMask"/> characters, from the start or the end.</summary>
/// <param name="MaskingChar">The character written over the value. The default is '*'.</param>
/// <param name="CharsToMask">How many characters to mask. The default is all.</param>
/// <param name="FromEnd">Whether to mask from the end. The default is from the start.</param>
public sealed record MaskOperator(char MaskingChar = '*', int CharsToMask = int.MaxValue, bool FromEnd = false) : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "mask";
}

/// <summary>Keeps a coarser value: a DATE_TIME becomes its year, an AGE its band ("40-49"); other types get the typed placeholder.</summary>
/// <param name="AgeBand">The width of an age band. The default is 10.</param>
public sealed record GeneralizeOperator(int AgeBand = 10) : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "generalize";
}

/// <summary>Replaces the entity with &lt;TYPE_n&gt;, the same n for the same subject (name variants included) in one conversation.</summary>
/// <remarks>Needs an <see cref="IPseudonymVault"/> and a conversation id; the vault keeps the mapping for de-anonymization.</remarks>
public sealed record PseudonymizeOperator : AnonymizationOperator
{
    /// <inheritdoc />
    public override string Name => "pseudonymize";
}
