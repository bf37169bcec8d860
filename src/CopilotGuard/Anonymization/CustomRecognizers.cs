using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>Declares a custom pattern recognizer in configuration (Presidio's ad-hoc recognizer, with a validator choice).</summary>
/// <param name="Name">A unique name.</param>
/// <param name="EntityType">The entity type it reports, e.g. EMPLOYEE_ID.</param>
/// <param name="Pattern">The .NET regular expression.</param>
/// <param name="Score">The base score, from 0 to 1.</param>
public sealed record CustomRecognizerDefinition(string Name, string EntityType, string Pattern, double Score = 0.6)
{
    /// <summary>Gets the validator applied to each match: none, luhn, iban, aba, nhs, npi, dea, ssn, crypto. The default is none.</summary>
    public string Validator { get; init; } = "none";

    /// <summary>Gets the words that raise the score when near a match.</summary>
    public IReadOnlyList<string> ContextWords { get; init; } = [];

    /// <summary>Gets whether the pattern ignores case. The default is <see langword="false"/>.</summary>
    public bool IgnoreCase { get; init; }
}

/// <summary>Thrown when custom recognizer definitions are invalid; lists every problem at once.</summary>
public sealed class AnonymizationConfigurationException : Exception
{
    /// <summary>Initializes a new instance with the default message.</summary>
    public AnonymizationConfigurationException()
        : this([])
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public AnonymizationConfigurationException(string message)
        : this([message])
    {
    }

    /// <summary>Initializes a new instance with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public AnonymizationConfigurationException(string message, Exception innerException)
        : base(message, innerException) => Errors = [message];

    /// <summary>Initializes a new instance with the list of errors.</summary>
    /// <param name="errors">Every problem found.</param>
    public AnonymizationConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid custom recognizers: " + string.Join("; ", errors)) => Errors = errors;

    /// <summary>Gets every problem found.</summary>
    public IReadOnlyList<string> Errors { get; }
}

/// <summary>Validates custom recognizer definitions and builds a recognizer from them.</summary>
public static partial class CustomRecognizers
{
    private static readonly Dictionary<string, MatchValidator?> s_validators = new(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = null,
        ["luhn"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.Luhn(t.AsSpan(s, e - s)),
        ["iban"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.Iban(t.AsSpan(s, e - s)),
        ["aba"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.AbaRouting(t.AsSpan(s, e - s)),
        ["nhs"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.NhsMod11(t.AsSpan(s, e - s)),
        ["npi"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.Npi(t.AsSpan(s, e - s)),
        ["dea"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.Dea(t.AsSpan(s, e - s)),
        ["ssn"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.SsnPlausible(t.AsSpan(s, e - s)),
        ["crypto"] = static (string t, ref int s, ref int e, ref double sc) => Checksums.CryptoAddress(t.AsSpan(s, e - s)),
    };

    /// <summary>Gets the validator names a definition may use.</summary>
    public static IReadOnlyCollection<string> ValidatorNames => s_validators.Keys;

    /// <summary>Returns every problem in the definitions (empty when they are valid).</summary>
    /// <param name="definitions">The definitions.</param>
    /// <returns>One message per problem, naming the recognizer and the field.</returns>
    public static IReadOnlyList<string> Validate(IEnumerable<CustomRecognizerDefinition> definitions)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int index = 0;
        foreach (CustomRecognizerDefinition d in definitions)
        {
            string where = string.IsNullOrWhiteSpace(d.Name) ? $"recognizers[{index}]" : $"recognizer '{d.Name}'";
            if (string.IsNullOrWhiteSpace(d.Name))
            {
                errors.Add($"{where}: name is required.");
            }
            else if (!names.Add(d.Name))
            {
                errors.Add($"{where}: name is used twice.");
            }

            if (string.IsNullOrWhiteSpace(d.EntityType) || !EntityTypePattern().IsMatch(d.EntityType))
            {
                errors.Add($"{where}: entity_type must be upper-case letters, digits and underscores (e.g. EMPLOYEE_ID).");
            }

            if (double.IsNaN(d.Score) || d.Score is <= 0 or > 1)
            {
                errors.Add($"{where}: score must be greater than 0 and at most 1.");
            }

            if (!s_validators.ContainsKey(d.Validator ?? string.Empty))
            {
                errors.Add($"{where}: validator '{d.Validator}' is unknown; use one of {string.Join(", ", s_validators.Keys)}.");
            }

            if (string.IsNullOrEmpty(d.Pattern))
            {
                errors.Add($"{where}: pattern is required.");
            }
            else
            {
                try
                {
                    Regex r = PatternRecognizer.CompileCustom(d.Pattern, d.IgnoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
                    if (r.IsMatch(string.Empty))
                    {
                        errors.Add($"{where}: pattern matches the empty string.");
                    }
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{where}: pattern is not a valid regular expression ({ex.Message}).");
                }
            }

            if (d.ContextWords.Any(string.IsNullOrWhiteSpace))
            {
                errors.Add($"{where}: context words must not be empty.");
            }

            index++;
        }

        return errors;
    }

    /// <summary>Builds one recognizer from the definitions, after validating them all.</summary>
    /// <param name="definitions">The definitions.</param>
    /// <returns>The recognizer.</returns>
    /// <exception cref="AnonymizationConfigurationException">Any definition is invalid; the exception lists every problem.</exception>
    public static IEntityRecognizer Create(IEnumerable<CustomRecognizerDefinition> definitions)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        CustomRecognizerDefinition[] all = [.. definitions];
        IReadOnlyList<string> errors = Validate(all);
        if (errors.Count > 0)
        {
            throw new AnonymizationConfigurationException(errors);
        }

        PatternDefinition[] patterns = [.. all.Select(d => new PatternDefinition
        {
            EntityType = d.EntityType,
            Name = d.Name,
            Regex = PatternRecognizer.CompileCustom(d.Pattern, d.IgnoreCase ? RegexOptions.IgnoreCase : RegexOptions.None),
            Score = d.Score,
            Validator = s_validators[d.Validator],
            ContextWords = [.. d.ContextWords],
        })];
        return new PatternRecognizer("custom", patterns, windowed: false);
    }

    [GeneratedRegex("^[A-Z][A-Z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex EntityTypePattern();
}
