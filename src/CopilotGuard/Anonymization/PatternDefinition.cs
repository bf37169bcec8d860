using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>Checks, trims or re-scores one regex match; returns <see langword="false"/> to drop it.</summary>
/// <param name="text">The whole text being scanned.</param>
/// <param name="start">The start of the match, which the validator may move.</param>
/// <param name="end">The exclusive end of the match, which the validator may move.</param>
/// <param name="score">The score, which the validator may change.</param>
internal delegate bool MatchValidator(string text, ref int start, ref int end, ref double score);

/// <summary>Flags describing which characters a candidate window holds, used to skip patterns that cannot match.</summary>
[Flags]
internal enum WindowFlags
{
    None = 0,
    At = 1,
    Dot = 2,
    Colon = 4,
    Hyphen = 8,
    Upper = 16,
    Lower = 32,
    Slash = 64,
}

/// <summary>Describes one pattern: the regex, its validator, its base score and the context words that raise it.</summary>
internal sealed class PatternDefinition
{
    public required string EntityType { get; init; }

    public required string Name { get; init; }

    public required Regex Regex { get; init; }

    public double Score { get; init; } = 0.5;

    public MatchValidator? Validator { get; init; }

    public string[] ContextWords { get; init; } = [];

    /// <summary>Gets the score added when a context word is near; Presidio's default is 0.35.</summary>
    public double ContextBoost { get; init; } = 0.35;

    /// <summary>Gets the minimum score once a context word is found; Presidio's default is 0.4.</summary>
    public double MinScoreWithContext { get; init; } = 0.4;

    public int MinDigits { get; init; }

    public WindowFlags RequiredAll { get; init; }

    public WindowFlags RequiredAny { get; init; }

    public int MinLength { get; init; } = 1;

    public bool Accepts(int digits, WindowFlags flags, int length) =>
        digits >= MinDigits && length >= MinLength && (flags & RequiredAll) == RequiredAll
        && (RequiredAny == WindowFlags.None || (flags & RequiredAny) != 0);
}
