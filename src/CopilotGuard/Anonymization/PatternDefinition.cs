using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>Checks, trims or re-scores one regex match; returns <see langword="false"/> to drop it.</summary>
/// <param name="text">The whole text being scanned.</param>
/// <param name="start">The start of the match, which the validator may move.</param>
/// <param name="end">The exclusive end of the match, which the validator may move.</param>
/// <param name="score">The score, which the validator may change.</param>
internal delegate bool MatchValidator(string text, ref int start, ref int end, ref double score);

/// <summary>Checks a window's text or measurements before a pattern's regex runs; returns <see langword="false"/> when the pattern cannot match.</summary>
/// <param name="window">The window's text.</param>
/// <param name="stats">The window's measurements.</param>
internal delegate bool WindowCheck(ReadOnlySpan<char> window, in WindowStats stats);

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

    /// <summary>A '.' followed by an ASCII letter or a non-ASCII character (a domain's next label).</summary>
    DotLetter = 128,

    /// <summary>The "://" of a URL scheme.</summary>
    ColonSlash = 256,

    /// <summary>An ASCII capital followed by a digit ("Q3", "GB82", "D1234567").</summary>
    UpperDigit = 512,

    /// <summary>A digit, one of '/', '-', '.', and a digit ("3/4", "2024-01", "1.2").</summary>
    DigitSeparator = 1024,
}

/// <summary>Measurements of one candidate window, taken in one pass, that tell which patterns can match in it.</summary>
/// <remarks>Digit runs count every Unicode decimal digit (as <c>\d</c> does); the other runs and flags are ASCII, as the patterns are.</remarks>
internal struct WindowStats
{
    /// <summary>The most digit groups recorded; a window with more has <see cref="GroupCount"/> above it and the group tests pass it.</summary>
    public const int MaxGroups = 16;

    public int Length;
    public int GroupCount;   // runs of Unicode decimal digits, possibly above MaxGroups
    public GroupBuffer GroupStarts;
    public GroupBuffer GroupLengths;
    public int Digits;       // ASCII digits
    public int MaxDigitRun;  // longest run of Unicode decimal digits
    public int MaxHexRun;    // longest run of [0-9A-Fa-f]
    public int MaxAlnumRun;  // longest run of [0-9A-Za-z]
    public int Dots;
    public int Colons;
    public int Hyphens;
    public WindowFlags Flags;

    /// <summary>Holds up to <see cref="MaxGroups"/> integers inline.</summary>
    [System.Runtime.CompilerServices.InlineArray(MaxGroups)]
    internal struct GroupBuffer
    {
        private int _element;
    }
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

    /// <summary>Gets the shortest run of digits a match holds.</summary>
    public int MinDigitRun { get; init; }

    /// <summary>Gets the shortest run of hexadecimal digits a match holds.</summary>
    public int MinHexRun { get; init; }

    /// <summary>Gets the shortest run of ASCII letters and digits a match holds.</summary>
    public int MinAlnumRun { get; init; }

    /// <summary>Gets the fewest dots a match holds.</summary>
    public int MinDots { get; init; }

    /// <summary>Gets the fewest colons a match holds.</summary>
    public int MinColons { get; init; }

    /// <summary>Gets an extra check on the window; each check must only reject windows in which the regex cannot match.</summary>
    public WindowCheck? Precheck { get; init; }

    /// <summary>Returns whether the regex can match in a window with these measurements (a necessary condition, never a sufficient one).</summary>
    public bool Accepts(ReadOnlySpan<char> window, in WindowStats w) =>
        w.Digits >= MinDigits && w.Length >= MinLength && (w.Flags & RequiredAll) == RequiredAll
        && (RequiredAny == WindowFlags.None || (w.Flags & RequiredAny) != 0)
        && w.MaxDigitRun >= MinDigitRun && w.MaxHexRun >= MinHexRun && w.MaxAlnumRun >= MinAlnumRun
        && w.Dots >= MinDots && w.Colons >= MinColons
        && (Precheck is null || Precheck(window, w));
}
