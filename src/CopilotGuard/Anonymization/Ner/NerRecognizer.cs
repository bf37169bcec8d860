using System.Collections.Frozen;
using System.Reflection;

namespace CopilotGuard.Anonymization.Ner;

/// <summary>
/// Finds PERSON, LOCATION and ORGANIZATION names with a learned averaged-perceptron BIO tagger over word, shape,
/// context, gazetteer and rule-recognizer features (see <see cref="NerFeatures"/>). The shipped model is embedded in
/// the engine (<c>Data/ner-model.txt.gz</c>, trained by <c>copilotguard ner train</c>). Thread-safe.
/// </summary>
public sealed class NerRecognizer : IEntityRecognizer
{
    private const string ModelResource = "CopilotGuard.Anonymization.Data.ner-model.txt.gz";
    private static readonly Lazy<NerRecognizer> s_default = new(static () =>
    {
        using Stream stream = typeof(NerRecognizer).Assembly.GetManifestResourceStream(ModelResource)
            ?? throw new InvalidOperationException("The embedded NER model is missing.");
        return new NerRecognizer(PerceptronModel.Load(stream));
    });

    private readonly PerceptronModel _model;
    private readonly string[] _types;
    private readonly bool _dropUnsupportedLowercase;

    private const GazFlags NameOrPlace = GazFlags.Given | GazFlags.GivenFrequent | GazFlags.Surname | GazFlags.SurnameFrequent | GazFlags.City
        | GazFlags.Region | GazFlags.Country | GazFlags.PlaceInMulti | GazFlags.IntlGiven | GazFlags.IntlSurname | GazFlags.OrgSuffix;

    /// <summary>Initializes a recognizer with a model.</summary>
    /// <param name="model">The tagger's weights.</param>
    /// <param name="dropUnsupportedLowercase">Whether to drop spans of one character and spans whose words are all lower case and in no name, place or organization list (the tagger's typical false positives on web text).</param>
    public NerRecognizer(PerceptronModel model, bool dropUnsupportedLowercase = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _dropUnsupportedLowercase = dropUnsupportedLowercase;
        _types = [.. model.Types];
        SupportedEntities = _types;
    }

    /// <summary>Gets the recognizer with the model embedded in the engine (loaded on first use).</summary>
    public static NerRecognizer Default => s_default.Value;

    /// <summary>Gets whether the engine carries an embedded model.</summary>
    public static bool HasEmbeddedModel => typeof(NerRecognizer).Assembly.GetManifestResourceInfo(ModelResource) is not null;

    /// <summary>Gets the model.</summary>
    public PerceptronModel Model => _model;

    /// <inheritdoc />
    public string Name => "ner";

    /// <inheritdoc />
    public IReadOnlyCollection<string> SupportedEntities { get; }

    /// <inheritdoc />
    public void Recognize(string text, ICollection<EntitySpan> results)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(results);
        var tokens = new List<TokenRange>(Math.Max(8, text.Length / 5));
        NerTokenizer.Tokenize(text, tokens);
        if (tokens.Count == 0)
        {
            return;
        }

        var info = new TokenInfo[tokens.Count];
        NerLexicon.Default.Describe(text, tokens, info);
        var labels = new int[tokens.Count];
        var probs = new float[tokens.Count];
        Decode(info, labels, probs);
        Emit(tokens, info, labels, probs, results);
    }

    /// <summary>Tags <paramref name="info"/> greedily, left to right, keeping BIO well-formed.</summary>
    internal void Decode(ReadOnlySpan<TokenInfo> info, Span<int> labels, Span<float> probs)
    {
        int l = _model.LabelCount;
        Span<ulong> f = stackalloc ulong[NerFeatures.MaxFeatures];
        Span<float> scores = stackalloc float[l];
        int prev = 0, prev2 = 0;
        for (int i = 0; i < info.Length; i++)
        {
            int n = NerFeatures.Static(info, i, f);
            n += NerFeatures.History(info, i, prev, prev2, f[n..]);
            scores.Clear();
            _model.Score(f[..n], scores);
            int best = PerceptronTrainer.Best(scores, prev);
            labels[i] = best;

            // A softmax over the allowed labels (weights are scaled by 100, so divide) as the token's confidence.
            double sum = 0;
            for (int k = 0; k < l; k++)
            {
                if (PerceptronModel.Allowed(prev, k))
                {
                    sum += Math.Exp((scores[k] - scores[best]) / Temperature);
                }
            }

            probs[i] = (float)(1 / sum);
            prev2 = prev;
            prev = best;
        }
    }

    /// <summary>The softmax temperature for the scaled perceptron scores.</summary>
    private const float Temperature = 100f;

    private void Emit(List<TokenRange> tokens, ReadOnlySpan<TokenInfo> info, ReadOnlySpan<int> labels, ReadOnlySpan<float> probs, ICollection<EntitySpan> results)
    {
        int i = 0;
        while (i < labels.Length)
        {
            if (labels[i] == 0)
            {
                i++;
                continue;
            }

            int type = (labels[i] - 1) / 2;
            int j = i + 1;
            float p = probs[i];
            while (j < labels.Length && labels[j] == (2 * type) + 2)
            {
                p += probs[j];
                j++;
            }

            double score = Math.Round(0.4 + (0.5 * p / (j - i)), 3);
            if (_dropUnsupportedLowercase && Unsupported(tokens, info, i, j))
            {
                i = j;
                continue;
            }

            results.Add(new EntitySpan(_types[type], tokens[i].Start, tokens[j - 1].End, score) { Recognizer = Name });
            i = j;
        }
    }

    private static bool Unsupported(List<TokenRange> tokens, ReadOnlySpan<TokenInfo> info, int from, int to)
    {
        if (tokens[to - 1].End - tokens[from].Start < 2)
        {
            return true;
        }

        for (int k = from; k < to; k++)
        {
            if (info[k].Cap != 0 || (info[k].Gaz & (ushort)NameOrPlace) != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Tokenizes and describes a text for training or tagging.</summary>
    internal static (List<TokenRange> Tokens, TokenInfo[] Info) Prepare(string text)
    {
        var tokens = new List<TokenRange>();
        NerTokenizer.Tokenize(text, tokens);
        var info = new TokenInfo[tokens.Count];
        NerLexicon.Default.Describe(text, tokens, info);
        return (tokens, info);
    }
}

/// <summary>The word lists the tagger's features consult: the engine's name and place gazetteers and small fixed lists.</summary>
internal sealed class NerLexicon
{
    private static readonly Lazy<NerLexicon> s_default = new(static () => new NerLexicon(Gazetteers.Default));

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_titles = Set(
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "madam", "mister", "judge", "rev", "reverend", "president",
        "senator", "governor", "mayor", "minister", "chancellor", "ceo", "cfo", "cto", "coo", "director", "manager", "officer", "chairman",
        "chairwoman", "secretary", "captain", "sgt", "lt", "col", "gen", "uncle", "aunt", "king", "queen", "prince", "princess", "pope", "father",
        "brother", "sister", "coach", "detective", "agent", "attorney", "nurse", "doctor", "st", "saint", "mrs.", "mr.", "dr.", "ms.");

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_orgSuffixes = Set(
        "inc", "incorporated", "corp", "corporation", "llc", "llp", "ltd", "limited", "gmbh", "ag", "sa", "sas", "bv", "nv", "plc", "co",
        "company", "group", "bank", "university", "college", "institute", "foundation", "hospital", "clinic", "holdings", "partners",
        "associates", "airlines", "airways", "technologies", "systems", "labs", "laboratories", "pharmaceuticals", "industries",
        "enterprises", "solutions", "consulting", "insurance", "bancorp", "trust", "agency", "council", "ministry", "department", "school",
        "academy", "society", "association", "federation", "union", "committee", "commission", "services", "motors", "energy", "media",
        "church", "center", "centre", "club", "party", "army", "navy", "court", "office", "bureau", "board", "news", "times", "post", "press",
        "network", "software", "studios", "records", "store", "stores", "restaurant", "cafe", "hotel", "museum", "library", "team", "fc");

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_nationalities = Set(
        "american", "british", "english", "scottish", "welsh", "irish", "french", "german", "italian", "spanish", "portuguese", "dutch", "belgian",
        "swiss", "austrian", "swedish", "norwegian", "danish", "finnish", "icelandic", "polish", "czech", "slovak", "hungarian", "romanian",
        "bulgarian", "greek", "turkish", "russian", "ukrainian", "belarusian", "serbian", "croatian", "bosnian", "albanian", "estonian",
        "latvian", "lithuanian", "canadian", "mexican", "brazilian", "argentinian", "argentine", "chilean", "peruvian", "colombian",
        "venezuelan", "cuban", "jamaican", "haitian", "dominican", "puerto", "chinese", "japanese", "korean", "vietnamese", "thai", "filipino",
        "indonesian", "malaysian", "singaporean", "indian", "pakistani", "bangladeshi", "nepali", "sri", "afghan", "iranian", "persian", "iraqi",
        "syrian", "lebanese", "israeli", "palestinian", "jordanian", "saudi", "egyptian", "moroccan", "algerian", "tunisian", "libyan",
        "nigerian", "ghanaian", "kenyan", "ethiopian", "somali", "south", "african", "australian", "zealander", "kiwi", "asian", "european",
        "arab", "arabic", "hispanic", "latino", "latina", "christian", "christians", "catholic", "catholics", "protestant", "muslim", "muslims",
        "islamic", "jewish", "jew", "jews", "hindu", "hindus", "buddhist", "buddhists", "sikh", "sikhs", "mormon", "mormons", "baptist",
        "methodist", "lutheran", "orthodox", "evangelical", "democrat", "democrats", "democratic", "republican", "republicans", "liberal",
        "liberals", "conservative", "conservatives", "socialist", "socialists", "communist", "communists", "libertarian", "labour", "tory",
        "tories", "americans", "germans", "french", "chinese", "indians", "canadians", "mexicans", "russians", "iraqis", "iranians", "europeans",
        "africans", "asians", "brits", "italians", "spaniards", "japanese", "koreans", "israelis", "palestinians", "arabs", "kurdish", "kurds",
        "shiite", "shia", "sunni", "taliban", "texan", "californian", "catalan", "basque", "tamil", "punjabi", "bengali", "urdu");

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_months = Set(
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "jan", "feb",
        "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
        "sunday");

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_street = Set(
        "street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "ln", "drive", "dr", "way", "court", "ct", "place", "pl",
        "square", "sq", "parkway", "pkwy", "highway", "hwy", "terrace", "circle", "cir", "trail", "strasse", "straße", "rue", "via", "calle");

    private readonly Gazetteers _gaz;
    private readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> _intlGiven;
    private readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> _intlSurnames;
    private readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> _legalForms;

    private NerLexicon(Gazetteers gazetteers)
    {
        _gaz = gazetteers;
        var given = new List<string>();
        var surnames = new List<string>();
        var legal = new List<string>();
        var jobs = new List<(string Kind, string Word)>();
        foreach (string line in Gazetteers.ReadLines("ner-lexicon.txt.gz"))
        {
            if (line.Length < 3 || line[1] != '\t')
            {
                continue;
            }

            string value = line[2..];
            switch (line[0])
            {
                case 'G': given.Add(value); break;
                case 'S': surnames.Add(value); break;
                case 'L': legal.Add(value.TrimEnd('.')); break;
                case 'J':
                    int tab = value.IndexOf('\t', StringComparison.Ordinal);
                    if (tab > 0)
                    {
                        jobs.Add((value[..tab], value[(tab + 1)..]));
                    }

                    break;
                default: break;
            }
        }

        _intlGiven = given.ToFrozenSet(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
        _intlSurnames = surnames.ToFrozenSet(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
        _legalForms = legal.Where(static l => l.Length >= 2).ToFrozenSet(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
        JobWords = [.. jobs];
        IntlGivenNames = [.. given];
        IntlSurnames = [.. surnames];
        LegalForms = [.. legal.Where(static l => l.Length >= 2)];
    }

    /// <summary>Gets job-title words from Faker's English locale: (descriptor | area | type, word), for generated text.</summary>
    public IReadOnlyList<(string Kind, string Word)> JobWords { get; }

    /// <summary>Gets Faker's given names in Latin script across its locales, sorted.</summary>
    public IReadOnlyList<string> IntlGivenNames { get; }

    /// <summary>Gets Faker's surnames in Latin script across its locales, sorted.</summary>
    public IReadOnlyList<string> IntlSurnames { get; }

    /// <summary>Gets company legal forms across Faker's locales (AG, GmbH, S.A., Oy ...).</summary>
    public IReadOnlyList<string> LegalForms { get; }

    public static NerLexicon Default => s_default.Value;

    private static FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Set(params string[] items) =>
        items.ToFrozenSet(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Fills <paramref name="info"/> for each token of <paramref name="text"/>.</summary>
    public void Describe(string text, List<TokenRange> tokens, Span<TokenInfo> info)
    {
        ReadOnlySpan<char> s = text;
        for (int i = 0; i < tokens.Count; i++)
        {
            ReadOnlySpan<char> w = s[tokens[i].Start..tokens[i].End];
            ReadOnlySpan<char> bare = w.Length > 1 && w[^1] == '.' ? w[..^1] : w;
            ref TokenInfo t = ref info[i];
            t.Lower = NerFeatures.HashLower(w);
            t.Shape = NerFeatures.HashShape(w);
            t.Prefix1 = NerFeatures.HashLower(w[..1]);
            t.Prefix2 = NerFeatures.HashLower(w[..Math.Min(2, w.Length)]) + 2;
            t.Prefix3 = NerFeatures.HashLower(w[..Math.Min(3, w.Length)]) + 3;
            t.Suffix2 = NerFeatures.HashLower(w[Math.Max(0, w.Length - 2)..]) + 5;
            t.Suffix3 = NerFeatures.HashLower(w[Math.Max(0, w.Length - 3)..]) + 7;
            t.Suffix4 = NerFeatures.HashLower(w[Math.Max(0, w.Length - 4)..]) + 11;
            t.Length = (byte)Math.Min(15, w.Length);
            t.Cap = Capitalization(w);
            t.SentenceStart = i == 0 || IsSentenceEnd(s[tokens[i - 1].Start..tokens[i - 1].End]) || s[tokens[i - 1].End..tokens[i].Start].Contains('\n');
            t.Gaz = (ushort)Gaz(bare);
        }

        // Multi-word places ("New York", "tampa bay"): up to four tokens separated by single spaces.
        for (int i = 0; i < tokens.Count; i++)
        {
            for (int j = Math.Min(tokens.Count - 1, i + 3); j > i; j--)
            {
                ReadOnlySpan<char> phrase = s[tokens[i].Start..tokens[j].End];
                if (phrase.Length <= 40 && _gaz.PlaceLookup.TryGetValue(phrase, out PlaceKind kind) && !phrase.Contains("  ", StringComparison.Ordinal))
                {
                    for (int k = i; k <= j; k++)
                    {
                        info[k].Gaz |= (ushort)(GazFlags.PlaceInMulti | KindFlag(kind));
                    }

                    break;
                }
            }
        }

        // The rule recognizer's opinion, as a feature.
        var hits = new List<EntitySpan>();
        NameRecognizer.Default.Recognize(text, hits);
        foreach (EntitySpan hit in hits)
        {
            byte code = hit.Type switch { EntityTypes.Person => 1, EntityTypes.Location => 2, EntityTypes.Organization => 3, _ => 0 };
            if (code == 0)
            {
                continue;
            }

            bool first = true;
            for (int i = 0; i < tokens.Count; i++)
            {
                if (tokens[i].Start >= hit.Start && tokens[i].End <= hit.End)
                {
                    info[i].Hit = (byte)(first ? code : code + 3);
                    first = false;
                }
            }
        }
    }

    private static bool IsSentenceEnd(ReadOnlySpan<char> token) => token is "." or "!" or "?" or ":" or ";" or "\"" or "-" or "(" or "*";

    private static byte Capitalization(ReadOnlySpan<char> w)
    {
        if (char.IsUpper(w[0]))
        {
            bool allUpper = w.Length > 1;
            foreach (char c in w)
            {
                if (char.IsLower(c))
                {
                    allUpper = false;
                    break;
                }
            }

            return allUpper ? (byte)2 : (byte)1;
        }

        return char.IsDigit(w[0]) ? (byte)3 : char.IsLetter(w[0]) ? (byte)0 : (byte)4;
    }

    private static GazFlags KindFlag(PlaceKind kind) => kind switch
    {
        PlaceKind.Country => GazFlags.Country,
        PlaceKind.Subdivision => GazFlags.Region,
        _ => GazFlags.City,
    };

    private GazFlags Gaz(ReadOnlySpan<char> w)
    {
        GazFlags g = GazFlags.None;
        if (w.Length < 2)
        {
            return g;
        }

        if (_gaz.GivenLookup.TryGetValue(w, out int count))
        {
            g |= GazFlags.Given | (count >= 2000 ? GazFlags.GivenFrequent : 0);
        }

        if (_gaz.SurnameLookup.TryGetValue(w, out int rank))
        {
            g |= GazFlags.Surname | (rank <= 2000 ? GazFlags.SurnameFrequent : 0);
        }

        if (_gaz.PlaceLookup.TryGetValue(w, out PlaceKind kind))
        {
            g |= KindFlag(kind);
        }

        if (s_titles.Contains(w))
        {
            g |= GazFlags.Title;
        }

        if (_intlGiven.Contains(w))
        {
            g |= GazFlags.IntlGiven;
        }

        if (_intlSurnames.Contains(w))
        {
            g |= GazFlags.IntlSurname;
        }

        if (s_orgSuffixes.Contains(w) || (w.Length >= 2 && char.IsUpper(w[0]) && _legalForms.Contains(w)))
        {
            g |= GazFlags.OrgSuffix;
        }

        if (NameRecognizer.IsCommonWord(w))
        {
            g |= GazFlags.Common;
        }

        if (s_nationalities.Contains(w))
        {
            g |= GazFlags.Nationality;
        }

        if (s_months.Contains(w))
        {
            g |= GazFlags.Month;
        }

        if (s_street.Contains(w))
        {
            g |= GazFlags.StreetSuffix;
        }

        return g;
    }
}
