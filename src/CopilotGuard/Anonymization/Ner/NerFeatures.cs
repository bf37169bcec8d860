using System.Runtime.CompilerServices;

namespace CopilotGuard.Anonymization.Ner;

/// <summary>Per-token facts the feature templates read: word hashes, shape, gazetteer membership and other recognizers' hits.</summary>
internal struct TokenInfo
{
    public ulong Lower;      // hash of the lower-cased word
    public ulong Shape;      // hash of the compressed shape (Xx, XX, d, x.x ...)
    public ulong Prefix1, Prefix2, Prefix3, Suffix2, Suffix3, Suffix4;
    public byte Cap;         // 0 lower/other, 1 initial capital, 2 all capitals, 3 digit, 4 punctuation
    public bool SentenceStart;
    public ushort Gaz;       // GazFlags
    public byte Hit;         // other recognizers' hit: 0 none, 1-3 PERSON/LOCATION/ORGANIZATION begin, 4-6 inside
    public byte Length;      // capped at 15
}

/// <summary>Gazetteer facts about one token (bit flags).</summary>
[Flags]
internal enum GazFlags : ushort
{
    None = 0,
    Given = 1,
    GivenFrequent = 2,
    Surname = 4,
    SurnameFrequent = 8,
    City = 16,
    Region = 32,
    Country = 64,
    PlaceInMulti = 128,
    Title = 256,
    OrgSuffix = 512,
    Common = 1024,
    Nationality = 2048,
    Month = 4096,
    StreetSuffix = 8192,
    IntlGiven = 16384,
    IntlSurname = 32768,
}

/// <summary>
/// Computes the feature hashes of a token for the perceptron tagger: templates (word, shape, affixes, capitalization,
/// sentence position, the words two either side, gazetteer flags, other recognizers' hits, the previous tags) are mixed
/// into 64-bit hashes without allocating strings.
/// </summary>
internal static class NerFeatures
{
    /// <summary>The most features one token produces, the tag-history ones included.</summary>
    public const int MaxFeatures = 64;

    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    /// <summary>Hashes characters, lower-cased.</summary>
    public static ulong HashLower(ReadOnlySpan<char> s)
    {
        ulong h = FnvOffset;
        foreach (char c in s)
        {
            h = (h ^ char.ToLowerInvariant(c)) * FnvPrime;
        }

        return h;
    }

    /// <summary>Hashes the compressed shape of a word: X upper, x lower, d digit, other characters as themselves, runs collapsed, at most 6 symbols.</summary>
    public static ulong HashShape(ReadOnlySpan<char> s)
    {
        ulong h = FnvOffset;
        char last = '\0';
        int n = 0;
        foreach (char c in s)
        {
            char k = char.IsUpper(c) ? 'X' : char.IsLower(c) ? 'x' : char.IsDigit(c) ? 'd' : char.IsLetter(c) ? 'l' : c;
            if (k != last)
            {
                h = (h ^ k) * FnvPrime;
                last = k;
                if (++n == 6)
                {
                    break;
                }
            }
        }

        return h;
    }

    /// <summary>Mixes a template id and up to three values into one feature hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong template, ulong a, ulong b = 0, ulong c = 0)
    {
        ulong h = (template + 0x9E3779B97F4A7C15UL) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ a ^ (h >> 29)) * 0x94D049BB133111EBUL;
        h = (h ^ b ^ (h >> 31)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ c ^ (h >> 30)) * 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }

    /// <summary>Writes the features of token <paramref name="i"/> that do not depend on predicted tags.</summary>
    /// <returns>The number of features written.</returns>
    public static int Static(ReadOnlySpan<TokenInfo> t, int i, Span<ulong> f)
    {
        int n = 0;
        ref readonly TokenInfo w = ref t[i];
        ulong none = 0x5A5A5A5A5A5A5A5AUL;
        TokenInfo empty = default;
        ref readonly TokenInfo p1 = ref i >= 1 ? ref t[i - 1] : ref empty;
        ref readonly TokenInfo p2 = ref i >= 2 ? ref t[i - 2] : ref empty;
        ref readonly TokenInfo n1 = ref i + 1 < t.Length ? ref t[i + 1] : ref empty;
        ref readonly TokenInfo n2 = ref i + 2 < t.Length ? ref t[i + 2] : ref empty;
        ulong lp1 = i >= 1 ? p1.Lower : none, lp2 = i >= 2 ? p2.Lower : none ^ 1;
        ulong ln1 = i + 1 < t.Length ? n1.Lower : none ^ 2, ln2 = i + 2 < t.Length ? n2.Lower : none ^ 3;
        ulong cp1 = i >= 1 ? p1.Cap : 9UL, cn1 = i + 1 < t.Length ? n1.Cap : 9UL;

        f[n++] = Mix(1, 0);                              // bias
        f[n++] = Mix(2, w.Lower);
        f[n++] = Mix(3, w.Shape);
        f[n++] = Mix(4, w.Prefix1);
        f[n++] = Mix(5, w.Prefix2);
        f[n++] = Mix(6, w.Prefix3);
        f[n++] = Mix(7, w.Suffix2);
        f[n++] = Mix(8, w.Suffix3);
        f[n++] = Mix(9, w.Suffix4);
        f[n++] = Mix(10, w.Cap, w.SentenceStart ? 1UL : 0UL);
        f[n++] = Mix(11, lp1);
        f[n++] = Mix(12, lp2);
        f[n++] = Mix(13, ln1);
        f[n++] = Mix(14, ln2);
        f[n++] = Mix(15, lp1, w.Lower);
        f[n++] = Mix(16, w.Lower, ln1);
        f[n++] = Mix(17, i >= 1 ? p1.Shape : none, w.Shape);
        f[n++] = Mix(18, w.Shape, i + 1 < t.Length ? n1.Shape : none);
        f[n++] = Mix(19, cp1, w.Cap, cn1);
        f[n++] = Mix(20, w.Length);
        f[n++] = Mix(21, w.Hit);
        f[n++] = Mix(22, w.Hit, w.Cap);
        f[n++] = Mix(23, i >= 1 ? p1.Hit : 99UL, n1.Hit);
        f[n++] = Mix(24, w.Gaz & ~(ulong)GazFlags.Common, w.Cap);
        f[n++] = Mix(25, w.Gaz, w.SentenceStart ? 1UL : 0UL);
        f[n++] = Mix(26, i >= 1 ? p1.Gaz : 0xFFFFUL, w.Cap);
        f[n++] = Mix(27, n1.Gaz, w.Cap, cn1);
        f[n++] = Mix(28, i >= 1 ? p1.Gaz : 0xFFFFUL, w.Gaz);
        f[n++] = Mix(29, w.Gaz, n1.Gaz);
        f[n++] = Mix(30, n2.Gaz, n1.Cap);
        f[n++] = Mix(31, lp1, w.Cap);
        f[n++] = Mix(32, ln1, w.Cap);
        f[n++] = Mix(33, w.Suffix3, w.Cap);
        for (int bit = 0; bit < 16; bit++)
        {
            if ((w.Gaz & (1 << bit)) != 0)
            {
                f[n++] = Mix(40, (ulong)bit, w.Cap);
            }
        }

        return n;
    }

    /// <summary>Writes the features that depend on the two previous predicted tags.</summary>
    /// <returns>The number of features written.</returns>
    public static int History(ReadOnlySpan<TokenInfo> t, int i, int prev, int prev2, Span<ulong> f)
    {
        int n = 0;
        ref readonly TokenInfo w = ref t[i];
        f[n++] = Mix(60, (ulong)prev);
        f[n++] = Mix(61, (ulong)prev, (ulong)prev2);
        f[n++] = Mix(62, (ulong)prev, w.Lower);
        f[n++] = Mix(63, (ulong)prev, w.Cap);
        f[n++] = Mix(64, (ulong)prev, w.Gaz & ~(ulong)GazFlags.Common);
        return n;
    }
}
