using System.Buffers;
using System.Collections.Frozen;
using System.Text.RegularExpressions;
using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization.Reference;

/// <summary>
/// The straightforward windowed pattern scanner as it was before the pre-checks were added (test-only oracle):
/// the same windows, every built-in definition run on every window that passes the original coarse checks
/// (ASCII digit count, a few character flags, window length).
/// </summary>
internal static class ReferencePatternScanner
{
    private static readonly SearchValues<char> s_triggers = SearchValues.Create("0123456789@:.");

    private const int MaxGap = 12;

    [Flags]
    private enum Flags
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

    private sealed record Gate(int MinDigits, Flags All, Flags Any, int MinLength);

    // The coarse gates of the original implementation, per definition name.
    private static readonly FrozenDictionary<string, Gate> s_gates = new Dictionary<string, Gate>
    {
        ["email"] = new(0, Flags.At, Flags.None, 6),
        ["url"] = new(0, Flags.None, Flags.Dot | Flags.Colon, 4),
        ["ipv4"] = new(4, Flags.Dot, Flags.None, 7),
        ["ipv6"] = new(0, Flags.Colon, Flags.None, 2),
        ["mac"] = new(1, Flags.None, Flags.Colon | Flags.Hyphen | Flags.Dot, 14),
        ["guid"] = new(4, Flags.None, Flags.None, 32),
        ["credit_card"] = new(12, Flags.None, Flags.None, 1),
        ["iban"] = new(4, Flags.Upper, Flags.None, 15),
        ["ssn"] = new(9, Flags.None, Flags.None, 1),
        ["us_bank"] = new(8, Flags.None, Flags.None, 1),
        ["aba"] = new(9, Flags.None, Flags.None, 1),
        ["us_passport"] = new(8, Flags.None, Flags.None, 1),
        ["us_driver_license"] = new(3, Flags.None, Flags.Upper, 1),
        ["us_npi"] = new(10, Flags.None, Flags.None, 1),
        ["dea"] = new(7, Flags.None, Flags.None, 1),
        ["uk_nhs"] = new(10, Flags.None, Flags.None, 1),
        ["crypto"] = new(1, Flags.None, Flags.None, 26),
        ["date"] = new(1, Flags.None, Flags.None, 1),
        ["age"] = new(1, Flags.None, Flags.None, 1),
        ["phone"] = new(6, Flags.None, Flags.None, 1),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly PatternDefinition[] s_definitions = BuiltInPatterns.Create();

    /// <summary>Adds every built-in pattern match in <paramref name="text"/> to <paramref name="results"/>.</summary>
    public static void Recognize(string text, ICollection<EntitySpan> results)
    {
        ReadOnlySpan<char> s = text;
        int pos = 0;
        while (pos < s.Length)
        {
            int p = NextTrigger(s, pos, s.Length);
            if (p < 0)
            {
                return;
            }

            int start = TokenStart(s, p);
            start = ExtendLeft(s, start);
            int end = TokenEnd(s, p);
            while (end < s.Length)
            {
                int q = NextTrigger(s, end, Math.Min(s.Length, end + MaxGap));
                if (q < 0 || s[end..q].Contains('\n'))
                {
                    break;
                }

                end = TokenEnd(s, q);
            }

            end = ExtendRight(s, end);
            RunWindow(text, start, end, results);
            pos = end;
        }
    }

    private static void RunWindow(string text, int start, int end, ICollection<EntitySpan> results)
    {
        int digits = 0;
        Flags flags = Flags.None;
        foreach (char c in text.AsSpan(start, end - start))
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                flags |= Flags.Upper;
            }
            else if (char.IsAsciiLetterLower(c))
            {
                flags |= Flags.Lower;
            }
            else
            {
                flags |= c switch
                {
                    '@' => Flags.At,
                    '.' => Flags.Dot,
                    ':' => Flags.Colon,
                    '-' => Flags.Hyphen,
                    '/' => Flags.Slash,
                    _ => Flags.None,
                };
            }
        }

        foreach (PatternDefinition d in s_definitions)
        {
            Gate g = s_gates[d.Name];
            if (digits >= g.MinDigits && end - start >= g.MinLength && (flags & g.All) == g.All && (g.Any == Flags.None || (flags & g.Any) != 0))
            {
                Run(d, text, start, end, results);
            }
        }
    }

    private static void Run(PatternDefinition d, string text, int windowStart, int windowEnd, ICollection<EntitySpan> results)
    {
        foreach (ValueMatch m in d.Regex.EnumerateMatches(text.AsSpan(windowStart, windowEnd - windowStart)))
        {
            if (m.Length == 0)
            {
                continue;
            }

            int start = windowStart + m.Index;
            int end = start + m.Length;
            double score = d.Score;
            if (d.Validator is not null && !d.Validator(text, ref start, ref end, ref score))
            {
                continue;
            }

            if (end <= start)
            {
                continue;
            }

            if (d.ContextWords.Length > 0 && ContextWords.Near(text, start, end, d.ContextWords))
            {
                score = Math.Min(1.0, Math.Max(score + d.ContextBoost, d.MinScoreWithContext));
            }

            if (score > 0)
            {
                results.Add(new EntitySpan(d.EntityType, start, end, score));
            }
        }
    }

    private static int NextTrigger(ReadOnlySpan<char> s, int from, int to)
    {
        while (from < to)
        {
            int rel = s[from..to].IndexOfAny(s_triggers);
            if (rel < 0)
            {
                return -1;
            }

            int p = from + rel;
            char c = s[p];
            if (c is '.' or ':')
            {
                // Only an inner dot or colon ("abc.com", "fe80::1", "http://") starts a window; a sentence's end does not.
                bool nextSolid = p + 1 < s.Length && !char.IsWhiteSpace(s[p + 1]) && s[p + 1] is not ('.' or ',' or ')' or '"' or '\'');
                bool prevColon = c == ':' && p > 0 && s[p - 1] == ':';
                if (!(nextSolid || prevColon) || (c == '.' && (p == 0 || !char.IsLetterOrDigit(s[p - 1]))))
                {
                    from = p + 1;
                    continue;
                }
            }

            return p;
        }

        return -1;
    }

    private static int TokenStart(ReadOnlySpan<char> s, int p)
    {
        while (p > 0 && !char.IsWhiteSpace(s[p - 1]))
        {
            p--;
        }

        return p;
    }

    private static int TokenEnd(ReadOnlySpan<char> s, int p)
    {
        while (p < s.Length && !char.IsWhiteSpace(s[p]))
        {
            p++;
        }

        return p;
    }

    /// <summary>Includes the previous token when it is short and on the same line (a month name, "aged", "(", "+").</summary>
    private static int ExtendLeft(ReadOnlySpan<char> s, int start)
    {
        int p = start;
        int spaces = 0;
        while (p > 0 && s[p - 1] is ' ' or '\t')
        {
            p--;
            spaces++;
        }

        if (spaces is 0 or > 2 || p == 0)
        {
            return start;
        }

        int tokenStart = TokenStart(s, p);
        return p - tokenStart <= 10 ? tokenStart : start;
    }

    /// <summary>Includes up to two short alphabetic tokens after the window ("years old", "March", "ext").</summary>
    private static int ExtendRight(ReadOnlySpan<char> s, int end)
    {
        for (int i = 0; i < 2; i++)
        {
            int p = end;
            while (p < s.Length && s[p] is ' ' or '\t')
            {
                p++;
            }

            if (p == end || p - end > 2 || p >= s.Length)
            {
                return end;
            }

            int tokenEnd = TokenEnd(s, p);
            if (tokenEnd - p > 10)
            {
                return end;
            }

            foreach (char c in s[p..tokenEnd])
            {
                if (!char.IsLetter(c) && c is not ('.' or ',' or ';'))
                {
                    return end;
                }
            }

            end = tokenEnd;
        }

        return end;
    }
}
