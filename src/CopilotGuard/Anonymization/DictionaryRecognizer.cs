using System.Buffers;
using System.Text;

namespace CopilotGuard.Anonymization;

/// <summary>Finds the organization's own names (directory people, customers, patients, employees) and their variants.</summary>
/// <remarks>
/// For a person "Jane Alice Doe" it matches "Jane Alice Doe", "Jane Doe", "Jane A. Doe", "J. Doe", "Doe, Jane", "Doe, J." and
/// "Ms. Doe" (any title). Full names of two or more words that are not common words match case-insensitively; the
/// shorter variants need capitals. Every match carries the entry's subject id so that pseudonyms and audit records
/// tie name variants to one data subject. Matching walks the text word by word and looks each word up in a hash table
/// of first words (a token trie), so cost does not grow with the number of names. Immutable and thread-safe.
/// </remarks>
public sealed class DictionaryRecognizer : IEntityRecognizer
{
    private static readonly string[] s_titles = ["Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof"];

    private readonly Dictionary<string, Variant[]> _byFirstWord;
    private readonly Dictionary<string, Variant[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _supported;

    // Per word length (64 = longer), a bit per folded first character of the indexed first words: a cheap test that
    // rejects most words of a text before the case-insensitive hash lookup.
    private readonly ulong[] _firstCharMasks;

    // The ASCII characters that cannot start a match in capitals (or digits): no indexed first word starts with them.
    // Every non-ASCII character is a possible start.
    private readonly SearchValues<char> _nonStarters;

    // The first words of case-insensitive variants followed by the gap to the next word (" ", ".", ","), any case: the
    // only way a match starts with a lower-case letter. Null when no variant needs it (or when _nonStarters already
    // lets every letter through).
    private readonly SearchValues<string>? _lowerCaseStarts;

    private sealed record Variant(string[] Tokens, string Type, string? SubjectId, bool CaseSensitive, double Score);

    private DictionaryRecognizer(Dictionary<string, Variant[]> byFirstWord, string[] supported)
    {
        var starters = new bool[128];
        var lowerCaseStarts = new List<string>();
        bool everyLetter = false;
        foreach ((string word, Variant[] variants) in byFirstWord)
        {
            char c = word[0];
            if (c >= 128)
            {
                // Case folding outside ASCII is not modelled: any letter or digit may start a match.
                everyLetter = true;
                continue;
            }

            // A case-sensitive variant needs a capital (or a non-letter) first; a case-insensitive one (always two words or
            // more) takes either case and is found by its first word and the gap after it (or, for a word that is not
            // all ASCII, by its first letter in lower case).
            starters[char.IsAsciiLetterLower(c) ? char.ToUpperInvariant(c) : c] = true;
            if (variants.Any(v => !v.CaseSensitive))
            {
                if (Ascii.IsValid(word))
                {
                    lowerCaseStarts.AddRange([word + " ", word + ".", word + ","]);
                }
                else
                {
                    starters[char.ToLowerInvariant(c)] = true;
                }
            }
        }

        if (everyLetter)
        {
            for (int i = 0; i < 128; i++)
            {
                starters[i] |= char.IsAsciiLetterOrDigit((char)i);
            }
        }

        _nonStarters = SearchValues.Create([.. Enumerable.Range(0, 128).Where(i => !starters[i]).Select(i => (char)i)]);
        _lowerCaseStarts = everyLetter || lowerCaseStarts.Count == 0 ? null : SearchValues.Create([.. lowerCaseStarts], StringComparison.OrdinalIgnoreCase);
        _byFirstWord = byFirstWord;
        _lookup = byFirstWord.GetAlternateLookup<ReadOnlySpan<char>>();
        _supported = supported;
        _firstCharMasks = new ulong[65];
        foreach (string word in byFirstWord.Keys)
        {
            // Case folding outside ASCII is not modelled: a key starting outside ASCII lets every word of its length through,
            // and a word starting outside ASCII (bit 63) always reaches the lookup.
            _firstCharMasks[Math.Min(word.Length, 64)] |= (word[0] < 128 ? FirstCharBit(word[0]) : ulong.MaxValue) | (1UL << 63);
        }
    }

    /// <summary>Folds a character to one of 64 bits: ASCII letters case-insensitively, every non-ASCII character to bit 63.</summary>
    private static ulong FirstCharBit(char c) => 1UL << (c < 128 ? (c | 0x20) & 63 : 63);

    /// <inheritdoc />
    public string Name => "dictionary";

    /// <inheritdoc />
    public IReadOnlyCollection<string> SupportedEntities => _supported;

    /// <summary>Gets the number of distinct first words indexed.</summary>
    internal int IndexedFirstWords => _byFirstWord.Count;

    /// <summary>Creates a recognizer from names, their entity types and optional data-subject ids.</summary>
    /// <param name="entries">The names; PERSON entries get name variants, other types match their full name only.</param>
    /// <returns>The recognizer.</returns>
    public static DictionaryRecognizer Create(IEnumerable<(string Name, string Type, string? SubjectId)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var lists = new Dictionary<string, List<Variant>>(StringComparer.OrdinalIgnoreCase);
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string name, string type, string? subjectId) in entries)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            ArgumentException.ThrowIfNullOrWhiteSpace(type);
            types.Add(type);
            foreach (Variant v in Variants(name, type, subjectId))
            {
                if (!lists.TryGetValue(v.Tokens[0], out List<Variant>? list))
                {
                    lists[v.Tokens[0]] = list = [];
                }

                if (!list.Any(x => x.Tokens.SequenceEqual(v.Tokens, StringComparer.OrdinalIgnoreCase) && x.SubjectId == v.SubjectId && x.Type == v.Type))
                {
                    list.Add(v);
                }
            }
        }

        // Longest variants first, so "Jane Alice Doe" wins over "Jane".
        var index = lists.ToDictionary(kv => kv.Key, kv => kv.Value.OrderByDescending(v => v.Tokens.Length).ThenBy(v => v.CaseSensitive).ToArray(), StringComparer.OrdinalIgnoreCase);
        return new DictionaryRecognizer(index, [.. types.Order(StringComparer.Ordinal)]);
    }

    /// <summary>Splits a name into words: letters, digits, apostrophes and inner hyphens.</summary>
    internal static string[] Tokenize(string name)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < name.Length)
        {
            while (i < name.Length && !char.IsLetterOrDigit(name[i]))
            {
                i++;
            }

            int start = i;
            i = WordEnd(name, i);
            if (i > start)
            {
                tokens.Add(name[start..i]);
            }
        }

        return [.. tokens];
    }

    private static IEnumerable<Variant> Variants(string name, string type, string? subjectId)
    {
        string[] tokens = Tokenize(name);
        if (tokens.Length == 0)
        {
            yield break;
        }

        bool safe = tokens.Length >= 2 && tokens.All(t => t.Length > 1 && !NameRecognizer.IsCommonWord(t));
        yield return new Variant(tokens, type, subjectId, !safe, 0.95);
        if (type != EntityTypes.Person || tokens.Length < 2)
        {
            yield break;
        }

        string first = tokens[0], last = tokens[^1];
        string initial = first[..1];
        yield return new Variant([first, last], type, subjectId, !safe, 0.95);
        if (tokens.Length > 2)
        {
            yield return new Variant([first, tokens[1][..1], last], type, subjectId, true, 0.95);
        }

        yield return new Variant([initial, last], type, subjectId, true, 0.9);
        yield return new Variant([last, first], type, subjectId, true, 0.9);
        yield return new Variant([last, initial], type, subjectId, true, 0.85);
        foreach (string title in s_titles)
        {
            yield return new Variant([title, last], type, subjectId, true, 0.9);
        }
    }

    /// <inheritdoc />
    public void Recognize(string text, ICollection<EntitySpan> results)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(results);
        ReadOnlySpan<char> s = text;
        int pos = 0;
        int nextCapital = -1, nextLower = -1;
        bool afterMatch = false;
        while (pos < s.Length)
        {
            int start;
            if (afterMatch)
            {
                // After a match (which may end inside a word, before a possessive "'s") the next letter or digit starts a word.
                start = pos;
                while (start < s.Length && !char.IsLetterOrDigit(s[start]))
                {
                    start++;
                }

                if (start == s.Length)
                {
                    break;
                }

                afterMatch = false;
            }
            else
            {
                // Jump to the next place where an indexed word can start (a capital or digit that starts one, any
                // non-ASCII character, or a case-insensitive first word in any case); skip it unless it starts a word.
                if (nextCapital < pos)
                {
                    int rel = s[pos..].IndexOfAnyExcept(_nonStarters);
                    nextCapital = rel < 0 ? int.MaxValue : pos + rel;
                }

                if (nextLower < pos)
                {
                    int rel = _lowerCaseStarts is null ? -1 : s[pos..].IndexOfAny(_lowerCaseStarts);
                    nextLower = rel < 0 ? int.MaxValue : pos + rel;
                }

                start = Math.Min(nextCapital, nextLower);
                if (start == int.MaxValue)
                {
                    break;
                }

                if (!char.IsLetterOrDigit(s[start]))
                {
                    pos = start + 1;
                    continue;
                }

                if (start > 0 && InWord(s, start - 1))
                {
                    // Inside a word: no word starts before its end.
                    pos = WordEnd(s, start);
                    continue;
                }
            }

            int end = WordEnd(s, start);
            pos = end;
            if ((_firstCharMasks[Math.Min(end - start, 64)] & FirstCharBit(s[start])) == 0 || !_lookup.TryGetValue(s[start..end], out Variant[]? variants))
            {
                continue;
            }

            if (AddFirstMatch(s, start, variants, results) is int matchEnd and > 0)
            {
                pos = matchEnd;
                afterMatch = true;
            }
        }
    }

    /// <summary>Walks the text word by word and looks every word up: the plain form of <see cref="Recognize"/>, kept for the differential tests.</summary>
    internal void RecognizeWordByWord(string text, ICollection<EntitySpan> results)
    {
        ReadOnlySpan<char> s = text;
        int pos = 0;
        while (pos < s.Length)
        {
            while (pos < s.Length && !char.IsLetterOrDigit(s[pos]))
            {
                pos++;
            }

            int start = pos;
            int end = WordEnd(s, pos);
            if (end == start)
            {
                break;
            }

            pos = end;
            if (!_lookup.TryGetValue(s[start..end], out Variant[]? variants))
            {
                continue;
            }

            if (AddFirstMatch(s, start, variants, results) is int matchEnd and > 0)
            {
                pos = matchEnd;
            }
        }
    }

    /// <summary>Returns whether the character at <paramref name="p"/> belongs to a word (the test <see cref="WordEnd"/> applies).</summary>
    private static bool InWord(ReadOnlySpan<char> s, int p) =>
        char.IsLetterOrDigit(s[p]) || (s[p] is '\'' or '’' or '-' && p + 1 < s.Length && char.IsLetter(s[p + 1]) && p > 0 && char.IsLetter(s[p - 1]));

    /// <summary>Adds the first (longest) variant that matches at <paramref name="start"/>; returns its end, or -1.</summary>
    private static int AddFirstMatch(ReadOnlySpan<char> s, int start, Variant[] variants, ICollection<EntitySpan> results)
    {
        foreach (Variant v in variants)
        {
            int matchEnd = Match(s, start, v);
            if (matchEnd > 0)
            {
                results.Add(new EntitySpan(v.Type, start, matchEnd, v.Score) { SubjectId = v.SubjectId });
                return matchEnd;
            }
        }

        return -1;
    }

    private static int Match(ReadOnlySpan<char> s, int start, Variant v)
    {
        int pos = start;
        for (int k = 0; k < v.Tokens.Length; k++)
        {
            if (k > 0)
            {
                // Between words: up to three of space, '.', ','; a line break ends the name.
                int gap = 0;
                while (pos < s.Length && s[pos] is ' ' or '.' or ',' && gap < 3)
                {
                    pos++;
                    gap++;
                }

                if (gap == 0)
                {
                    return -1;
                }
            }

            int end = WordEnd(s, pos);
            ReadOnlySpan<char> word = s[pos..end];
            string token = v.Tokens[k];
            if (!word.Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                // Possessive on the last word: "Doe's".
                if (!(k == v.Tokens.Length - 1 && word.Length == token.Length + 2 && word.StartsWith(token, StringComparison.OrdinalIgnoreCase)
                      && word[^2] is '\'' or '’' && word[^1] is 's' or 'S'))
                {
                    return -1;
                }

                end = pos + token.Length;
            }

            if (v.CaseSensitive && !char.IsUpper(s[pos]) && char.IsLetter(s[pos]))
            {
                return -1;
            }

            pos = end;
        }

        // A single-letter initial or title written with a dot keeps it: "J. Doe" ends at "Doe"; "Doe, J." ends after "J".
        return pos;
    }

    private static int WordEnd(ReadOnlySpan<char> s, int p)
    {
        while (p < s.Length && InWord(s, p))
        {
            p++;
        }

        return p;
    }
}
