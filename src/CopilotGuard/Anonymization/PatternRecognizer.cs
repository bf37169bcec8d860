using System.Buffers;
using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>Finds entities with regex patterns, checksum validators and context words (Presidio's pattern recognizers).</summary>
/// <remarks>
/// The built-in set does not run its regexes over the whole text: one vectorized pass finds the short windows
/// around digits, <c>@</c>, and inner <c>.</c> or <c>:</c>; each window is measured once (digit and hex runs,
/// separators, character pairs such as "://") and runs only the patterns whose necessary conditions it meets.
/// Custom patterns from configuration run over the whole text. Instances are immutable and thread-safe.
/// </remarks>
public sealed class PatternRecognizer : IEntityRecognizer
{
    private static readonly SearchValues<char> s_triggers = SearchValues.Create("0123456789@:.");

    /// <summary>The largest gap (in characters) between two trigger tokens that still joins them in one window.</summary>
    private const int MaxGap = 12;

    private readonly PatternDefinition[] _definitions;
    private readonly bool _windowed;
    private readonly string[] _supported;

    internal PatternRecognizer(string name, PatternDefinition[] definitions, bool windowed)
    {
        Name = name;
        _definitions = definitions;
        _windowed = windowed;
        _supported = [.. definitions.Select(d => d.EntityType).Distinct(StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyCollection<string> SupportedEntities => _supported;

    /// <summary>Creates the built-in pattern recognizer, optionally limited to some entity types.</summary>
    /// <param name="entityTypes">The entity types to keep, or <see langword="null"/> for all built-in pattern types.</param>
    /// <returns>The recognizer.</returns>
    public static PatternRecognizer CreateDefault(IEnumerable<string>? entityTypes = null)
    {
        PatternDefinition[] all = BuiltInPatterns.Create();
        if (entityTypes is not null)
        {
            var keep = new HashSet<string>(entityTypes, StringComparer.Ordinal);
            all = [.. all.Where(d => keep.Contains(d.EntityType))];
        }

        return new PatternRecognizer("patterns", all, windowed: true);
    }

    /// <inheritdoc />
    public void Recognize(string text, ICollection<EntitySpan> results)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(results);
        if (_windowed)
        {
            ScanWindows(text, results);
        }
        else
        {
            foreach (PatternDefinition d in _definitions)
            {
                Run(d, text, 0, text.Length, results);
            }
        }
    }

    private void ScanWindows(string text, ICollection<EntitySpan> results)
    {
        int pos = 0;
        while (NextWindow(text, pos, out int start, out int end))
        {
            RunWindow(text, start, end, results);
            pos = end;
        }
    }

    /// <summary>Finds the next candidate window at or after <paramref name="pos"/>: the tokens around a trigger, joined and extended.</summary>
    /// <returns><see langword="false"/> when no trigger is left.</returns>
    internal static bool NextWindow(ReadOnlySpan<char> s, int pos, out int start, out int end)
    {
        int p = NextTrigger(s, pos, s.Length);
        if (p < 0)
        {
            start = end = s.Length;
            return false;
        }

        start = ExtendLeft(s, TokenStart(s, p));
        end = TokenEnd(s, p);

        // Join following tokens with triggers that sit within a short gap ("+44 20 7946 0958", "March 3, 2024").
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
        return true;
    }

    private void RunWindow(string text, int start, int end, ICollection<EntitySpan> results)
    {
        ReadOnlySpan<char> window = text.AsSpan(start, end - start);
        WindowStats stats = default;
        Measure(window, ref stats);
        foreach (PatternDefinition d in _definitions)
        {
            if (d.Accepts(window, stats))
            {
                Run(d, text, start, end, results);
            }
        }
    }

    // Character classes for Measure: the low bits are the WindowFlags the character sets, the high bits say what it is.
    private const int RunDigit = 1 << 8;    // any Unicode decimal digit (what \d matches)
    private const int AsciiDigit = 1 << 9;
    private const int HexDigit = 1 << 10;
    private const int AsciiAlnum = 1 << 11;
    private const int NonAscii = 1 << 12;
    private const int SeparatorFlags = (int)(WindowFlags.Dot | WindowFlags.Hyphen | WindowFlags.Slash);
    private static readonly ushort[] s_asciiClasses = CreateAsciiClasses();

    private static ushort[] CreateAsciiClasses()
    {
        var classes = new ushort[128];
        for (char c = '\0'; c < 128; c++)
        {
            int v = c switch
            {
                >= '0' and <= '9' => RunDigit | AsciiDigit | HexDigit | AsciiAlnum,
                >= 'A' and <= 'Z' => (int)WindowFlags.Upper | AsciiAlnum | (c <= 'F' ? HexDigit : 0),
                >= 'a' and <= 'z' => (int)WindowFlags.Lower | AsciiAlnum | (c <= 'f' ? HexDigit : 0),
                '@' => (int)WindowFlags.At,
                '.' => (int)WindowFlags.Dot,
                ':' => (int)WindowFlags.Colon,
                '-' => (int)WindowFlags.Hyphen,
                '/' => (int)WindowFlags.Slash,
                _ => 0,
            };
            classes[c] = (ushort)v;
        }

        return classes;
    }

    /// <summary>Measures a window in one pass: digit count, digit groups, longest digit / hex / alphanumeric runs, separators and character-pair flags.</summary>
    /// <param name="window">The window's text.</param>
    /// <param name="stats">Receives the measurements (every field; the group buffers up to <see cref="WindowStats.GroupCount"/>).</param>
    internal static void Measure(ReadOnlySpan<char> window, ref WindowStats stats)
    {
        stats.Length = window.Length;
        stats.GroupCount = 0;
        ushort[] classes = s_asciiClasses;
        int digitRun = 0, hexRun = 0, alnumRun = 0, maxDigitRun = 0, maxHexRun = 0, maxAlnumRun = 0;
        int asciiDigits = 0, dots = 0, colons = 0, hyphens = 0;
        int flags = 0, prev = 0, prev2 = 0;
        for (int index = 0; index < window.Length; index++)
        {
            char c = window[index];
            int cls = c < 128 ? classes[c] : NonAscii | (char.IsDigit(c) ? RunDigit : 0);
            flags |= cls & 0xFF;
            asciiDigits += (cls >> 9) & 1;
            dots += (cls >> 1) & 1;
            colons += (cls >> 2) & 1;
            hyphens += (cls >> 3) & 1;

            if ((prev & (int)WindowFlags.Dot) != 0 && (cls & ((int)WindowFlags.Upper | (int)WindowFlags.Lower | NonAscii)) != 0)
            {
                flags |= (int)WindowFlags.DotLetter;
            }
            else if ((prev & (int)WindowFlags.Colon) != 0 && (cls & (int)WindowFlags.Slash) != 0)
            {
                flags |= (int)WindowFlags.ColonSlash;
            }

            if ((cls & RunDigit) != 0)
            {
                if ((prev & (int)WindowFlags.Upper) != 0)
                {
                    flags |= (int)WindowFlags.UpperDigit;
                }

                if ((prev2 & RunDigit) != 0 && (prev & SeparatorFlags) != 0)
                {
                    flags |= (int)WindowFlags.DigitSeparator;
                }

                digitRun++;
                maxDigitRun = Math.Max(maxDigitRun, digitRun);
            }
            else if (digitRun > 0)
            {
                AddGroup(ref stats, index - digitRun, digitRun);
                digitRun = 0;
            }

            hexRun = (cls & HexDigit) != 0 ? hexRun + 1 : 0;
            alnumRun = (cls & AsciiAlnum) != 0 ? alnumRun + 1 : 0;
            maxHexRun = Math.Max(maxHexRun, hexRun);
            maxAlnumRun = Math.Max(maxAlnumRun, alnumRun);
            prev2 = prev;
            prev = cls;
        }

        if (digitRun > 0)
        {
            AddGroup(ref stats, window.Length - digitRun, digitRun);
        }

        stats.Digits = asciiDigits;
        stats.MaxDigitRun = maxDigitRun;
        stats.MaxHexRun = maxHexRun;
        stats.MaxAlnumRun = maxAlnumRun;
        stats.Dots = dots;
        stats.Colons = colons;
        stats.Hyphens = hyphens;
        stats.Flags = (WindowFlags)flags;
    }

    private static void AddGroup(ref WindowStats stats, int start, int length)
    {
        if (stats.GroupCount < WindowStats.MaxGroups)
        {
            stats.GroupStarts[stats.GroupCount] = start;
            stats.GroupLengths[stats.GroupCount] = length;
        }

        stats.GroupCount++;
    }

    /// <summary>Runs one pattern over [<paramref name="windowStart"/>, <paramref name="windowEnd"/>): regex, validator, context words, score.</summary>
    internal static void Run(PatternDefinition d, string text, int windowStart, int windowEnd, ICollection<EntitySpan> results)
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

    internal static Regex CompileCustom(string pattern, RegexOptions options) =>
        new(pattern, options | RegexOptions.Compiled | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(250));
}
