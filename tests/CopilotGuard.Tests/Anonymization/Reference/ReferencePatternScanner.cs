using System.Collections.Frozen;
using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization.Reference;

/// <summary>
/// The straightforward windowed pattern scanner as it was before the pre-checks were added (test-only oracle):
/// the recognizer's windows, every built-in definition run on every window that passes the original coarse checks
/// (ASCII digit count, a few character flags, window length).
/// </summary>
internal static class ReferencePatternScanner
{
    private sealed record Gate(int MinDigits, WindowFlags All, WindowFlags Any, int MinLength);

    // The coarse gates of the original implementation, per definition name.
    private static readonly FrozenDictionary<string, Gate> s_gates = new Dictionary<string, Gate>
    {
        ["email"] = new(0, WindowFlags.At, WindowFlags.None, 6),
        ["url"] = new(0, WindowFlags.None, WindowFlags.Dot | WindowFlags.Colon, 4),
        ["ipv4"] = new(4, WindowFlags.Dot, WindowFlags.None, 7),
        ["ipv6"] = new(0, WindowFlags.Colon, WindowFlags.None, 2),
        ["mac"] = new(1, WindowFlags.None, WindowFlags.Colon | WindowFlags.Hyphen | WindowFlags.Dot, 14),
        ["guid"] = new(4, WindowFlags.None, WindowFlags.None, 32),
        ["credit_card"] = new(12, WindowFlags.None, WindowFlags.None, 1),
        ["iban"] = new(4, WindowFlags.Upper, WindowFlags.None, 15),
        ["ssn"] = new(9, WindowFlags.None, WindowFlags.None, 1),
        ["us_bank"] = new(8, WindowFlags.None, WindowFlags.None, 1),
        ["aba"] = new(9, WindowFlags.None, WindowFlags.None, 1),
        ["us_passport"] = new(8, WindowFlags.None, WindowFlags.None, 1),
        ["us_driver_license"] = new(3, WindowFlags.None, WindowFlags.Upper, 1),
        ["us_npi"] = new(10, WindowFlags.None, WindowFlags.None, 1),
        ["dea"] = new(7, WindowFlags.None, WindowFlags.None, 1),
        ["uk_nhs"] = new(10, WindowFlags.None, WindowFlags.None, 1),
        ["crypto"] = new(1, WindowFlags.None, WindowFlags.None, 26),
        ["date"] = new(1, WindowFlags.None, WindowFlags.None, 1),
        ["age"] = new(1, WindowFlags.None, WindowFlags.None, 1),
        ["phone"] = new(6, WindowFlags.None, WindowFlags.None, 1),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly PatternDefinition[] s_definitions = BuiltInPatterns.Create();

    /// <summary>Adds every built-in pattern match in <paramref name="text"/> to <paramref name="results"/>.</summary>
    public static void Recognize(string text, ICollection<EntitySpan> results)
    {
        // The windows are the recognizer's own (unchanged by the pre-checks); what differs is which patterns run in them.
        int pos = 0;
        while (PatternRecognizer.NextWindow(text, pos, out int start, out int end))
        {
            RunWindow(text, start, end, results);
            pos = end;
        }
    }

    private static void RunWindow(string text, int start, int end, ICollection<EntitySpan> results)
    {
        int digits = 0;
        WindowFlags flags = WindowFlags.None;
        foreach (char c in text.AsSpan(start, end - start))
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                flags |= WindowFlags.Upper;
            }
            else if (char.IsAsciiLetterLower(c))
            {
                flags |= WindowFlags.Lower;
            }
            else
            {
                flags |= c switch
                {
                    '@' => WindowFlags.At,
                    '.' => WindowFlags.Dot,
                    ':' => WindowFlags.Colon,
                    '-' => WindowFlags.Hyphen,
                    '/' => WindowFlags.Slash,
                    _ => WindowFlags.None,
                };
            }
        }

        foreach (PatternDefinition d in s_definitions)
        {
            Gate g = s_gates[d.Name];
            if (digits >= g.MinDigits && end - start >= g.MinLength && (flags & g.All) == g.All && (g.Any == WindowFlags.None || (flags & g.Any) != 0))
            {
                PatternRecognizer.Run(d, text, start, end, results);
            }
        }
    }
}
