using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>
/// Finds PII the pattern set leaves out because it needs layout or word lists rather than a checksum: street addresses
/// (US, UK and continental European layouts, PO boxes) as LOCATION, postal codes (ZIP_CODE; UK and Canadian shapes on
/// their own, five-digit codes only after a state, an address or a zip/postal cue word), ages as the number alone (AGE:
/// "aged 45", "45-year-old", "45 years old" report "45"), job titles (TITLE) and nationalities, religions and political
/// groups (NRP). Part of the accurate (command-line and ingestion) analyzer; not in the query-time default set. Thread-safe.
/// </summary>
public sealed partial class ContextRecognizer : IEntityRecognizer
{
    private const RegexOptions Opts = RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture;

    /// <summary>Gets the shared instance.</summary>
    public static ContextRecognizer Default { get; } = new();

    /// <inheritdoc />
    public string Name => "context";

    /// <inheritdoc />
    public IReadOnlyCollection<string> SupportedEntities { get; } = [EntityTypes.Location, EntityTypes.ZipCode, EntityTypes.Age, EntityTypes.Title, EntityTypes.Nrp];

    // House number, optional direction, one to four capitalized words, a street type, optional unit.
    [GeneratedRegex(@"(?<!\w)\d{1,6}[A-Za-z]?(?:-\d{1,4})?,?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?(?:(?:[A-Z][\p{L}'\-]+|\d{1,3}(?:st|nd|rd|th))\.?\s+){1,4}(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct|place|pl|square|sq|parkway|pkwy|highway|hwy|terrace|ter|circle|cir|trail|trl|crescent|close|gardens|grove|mews|row|walk|hill|park|plaza|alley|loop|path|pike|run|view|ridge|crossing|heights|point|station|center|centre|route|rte)\b\.?(?:(?:,\s*|\s+)(?i:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|bldg|building|#)\.?\s*#?\s*[0-9A-Za-z\-]{1,6}\b)?", Opts)]
    private static partial Regex StreetRegex();

    // Continental layout: street word with a German/Dutch/Scandinavian suffix, or a French/Italian/Spanish prefix, then a number.
    [GeneratedRegex(@"(?<!\w)(?:[A-ZÄÖÜ][\p{L}\-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|laan|straat|gracht|plein|vej|gatan|gata|veien)|(?:Rue|Avenue|Boulevard|Place|Chemin|Via|Viale|Piazza|Calle|Avenida|Plaza|Paseo|Rua|Praça)\s+(?:(?:de|del|della|des|du|la|le|les|da|do|dos|di)\s+)*[A-ZÀ-Ý][\p{L}'\-]+(?:\s+[A-ZÀ-Ý][\p{L}'\-]+){0,3})\s+\d{1,5}[a-zA-Z]?\b", Opts)]
    private static partial Regex EuropeanStreetRegex();

    // French/Spanish/Italian number-first: "12 rue de la Paix", "5 calle Mayor".
    [GeneratedRegex(@"(?<!\w)\d{1,5}(?:\s?(?:bis|ter))?,?\s+(?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|via|viale|piazza|calle|avenida)\s+(?:(?:de|del|della|des|du|la|le|les|l'|d')\s*)*[\p{L}'\-]+(?:\s+[A-ZÀ-Ý][\p{L}'\-]+){0,3}", Opts)]
    private static partial Regex NumberFirstEuropeanRegex();

    [GeneratedRegex(@"(?<!\w)(?i:p\.?\s?o\.?\s?box|post\s+office\s+box|postfach|boîte\s+postale|bp)\s*#?\s*\d{1,8}\b", Opts)]
    private static partial Regex PoBoxRegex();

    [GeneratedRegex(@"(?<![\w-])(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s\d[ABCEGHJ-NPRSTV-Z]\d)(?![\w-])", Opts)]
    private static partial Regex UkCanadaPostcodeRegex();

    // A five-digit code (or ZIP+4) after a state abbreviation or a cue word.
    [GeneratedRegex(@"(?:\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])\.?,?\s+|(?i:zip(?:\s?code)?|postal\s?code|post\s?code|postcode|plz|cp)\s*(?:is|:|#|-)?\s*)(?<zip>\d{5}(?:-\d{4})?)(?![\w-])", Opts)]
    private static partial Regex ZipWithCueRegex();

    // A four- or five-digit postcode right before a capitalized city after a comma or line start (European "75008 Paris", "1010 Wien"); not a year (1900-2099).
    [GeneratedRegex(@"(?:^|,\s*|\n\s*)(?<zip>(?!(?:19|20)\d\d(?!\d))\d{4,5})\s+(?=[A-ZÀ-Ý][\p{L}\-]+)", Opts | RegexOptions.Multiline)]
    private static partial Regex ZipBeforeCityRegex();

    [GeneratedRegex(@"(?<!\w)(?:(?i:aged?|age\s?:|age\s+of|at\s+the\s+age\s+of)\s*(?<age>\d{1,3})(?!\d)|(?<age>\d{1,3})(?:\s?-\s?|\s)(?i:years?|yrs?)(?:\s?-\s?|\s)(?i:old)|(?<age>\d{1,3})\s?(?i:y/o|yo)(?!\w)|(?<age>\d{1,3})(?:-|\s)(?i:year-old|years-old))", Opts)]
    private static partial Regex AgeRegex();

    [GeneratedRegex(@"(?<!\w)(?<age>\d{1,3})(?=\s+(?i:years?|yrs?)\s+(?i:of\s+age|young)\b)", Opts)]
    private static partial Regex AgeOfRegex();

    private static readonly FrozenSet<string> s_jobHeads = Set(
        "manager", "engineer", "director", "officer", "consultant", "analyst", "developer", "designer", "specialist", "coordinator",
        "administrator", "architect", "agent", "assistant", "associate", "executive", "facilitator", "liaison", "orchestrator", "planner",
        "producer", "representative", "strategist", "supervisor", "technician", "accountant", "nurse", "teacher", "lawyer", "attorney",
        "paralegal", "scientist", "researcher", "professor", "lecturer", "physician", "surgeon", "pharmacist", "therapist", "dentist",
        "clerk", "cashier", "receptionist", "secretary", "editor", "writer", "journalist", "photographer", "programmer", "auditor",
        "controller", "treasurer", "president", "vice-president", "ceo", "cfo", "cto", "coo", "cio", "vp", "chairman", "chairwoman",
        "chairperson", "founder", "co-founder", "partner", "advisor", "adviser", "counsel", "recruiter", "buyer", "salesperson", "electrician",
        "plumber", "mechanic", "driver", "pilot", "chef", "cook", "waiter", "waitress", "bartender", "librarian", "economist", "statistician",
        "psychologist", "pharmacologist", "veterinarian", "paramedic", "firefighter", "officer", "inspector", "investigator", "underwriter",
        "actuary", "broker", "banker", "trader", "teller", "lead", "head", "intern", "trainee", "apprentice", "operator", "installer",
        "surveyor", "builder", "carpenter", "welder", "machinist", "tutor", "instructor", "coach", "counselor", "counsellor", "social worker");

    private static readonly FrozenSet<string> s_jobModifiers = Set(
        "senior", "junior", "lead", "chief", "principal", "head", "assistant", "associate", "executive", "regional", "global", "corporate",
        "national", "district", "central", "international", "internal", "direct", "dynamic", "forward", "future", "human", "investor",
        "legacy", "product", "customer", "staff", "deputy", "general", "managing", "technical", "sales", "marketing", "finance", "financial",
        "accounting", "software", "hardware", "data", "security", "research", "operations", "program", "project", "account", "business",
        "systems", "network", "quality", "brand", "creative", "communications", "infrastructure", "integration", "interactions", "mobility",
        "optimization", "paradigm", "solutions", "tactics", "usability", "web", "applications", "identity", "implementation", "intranet",
        "markets", "metrics", "response", "accountability", "configuration", "directives", "division", "factors", "functionality", "group",
        "branding", "creative", "division", "hr", "it", "legal", "compliance", "risk", "clinical", "medical", "registered", "certified",
        "graphic", "civil", "mechanical", "electrical", "chemical", "structural", "administrative", "office", "store", "shift", "floor",
        "front", "desk", "content", "digital", "social", "media", "public", "relations", "policy", "support", "service", "services", "field",
        "site", "team", "vice", "of", "and", "&");

    private static readonly FrozenSet<string> s_nrp = Set(
        "American", "British", "English", "Scottish", "Welsh", "Irish", "French", "German", "Italian", "Spanish", "Portuguese", "Dutch",
        "Belgian", "Swiss", "Austrian", "Swedish", "Norwegian", "Danish", "Finnish", "Icelandic", "Polish", "Czech", "Slovak", "Hungarian",
        "Romanian", "Bulgarian", "Greek", "Turkish", "Russian", "Ukrainian", "Serbian", "Croatian", "Bosnian", "Albanian", "Estonian",
        "Latvian", "Lithuanian", "Canadian", "Mexican", "Brazilian", "Argentinian", "Argentine", "Chilean", "Peruvian", "Colombian",
        "Venezuelan", "Cuban", "Jamaican", "Haitian", "Chinese", "Japanese", "Korean", "Vietnamese", "Thai", "Filipino", "Indonesian",
        "Malaysian", "Singaporean", "Indian", "Pakistani", "Bangladeshi", "Nepali", "Nepalese", "Afghan", "Iranian", "Persian", "Iraqi",
        "Syrian", "Lebanese", "Israeli", "Palestinian", "Jordanian", "Saudi", "Egyptian", "Moroccan", "Algerian", "Tunisian", "Libyan",
        "Nigerian", "Ghanaian", "Kenyan", "Ethiopian", "Somali", "Sudanese", "Ugandan", "Tanzanian", "Rwandan", "Congolese", "Senegalese",
        "Cameroonian", "Zimbabwean", "Australian", "Emirati", "Qatari", "Kuwaiti", "Yemeni", "Omani", "Armenian", "Georgian", "Azerbaijani",
        "Kazakh", "Uzbek", "Mongolian", "Taiwanese", "Tibetan", "Cambodian", "Laotian", "Burmese", "Sri Lankan", "New Zealander",
        "South African", "Puerto Rican", "Dominican", "Salvadoran", "Guatemalan", "Honduran", "Nicaraguan", "Costa Rican", "Panamanian",
        "Ecuadorian", "Bolivian", "Paraguayan", "Uruguayan", "Hispanic", "Latino", "Latina", "Latinx", "Arab", "Kurdish", "Kurd", "Roma",
        "Christian", "Catholic", "Protestant", "Muslim", "Islamic", "Jewish", "Jew", "Hindu", "Buddhist", "Sikh", "Mormon", "Baptist",
        "Methodist", "Lutheran", "Anglican", "Presbyterian", "Evangelical", "Orthodox", "Atheist", "Agnostic", "Shia", "Shiite", "Sunni",
        "Jain", "Taoist", "Zoroastrian", "Democrat", "Democratic", "Republican", "Libertarian", "Socialist", "Communist", "Conservative",
        "Liberal", "Labour", "Tory", "Green Party", "Americans", "Germans", "Mexicans", "Canadians", "Muslims", "Christians", "Jews", "Hindus",
        "Buddhists", "Sikhs", "Catholics", "Democrats", "Republicans", "Europeans", "Asians", "Africans", "African American", "Asian American",
        "Native American", "European", "Asian", "African", "Caucasian", "Black", "White", "Pacific Islander");

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_jobHeadsL = s_jobHeads.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_jobModifiersL = s_jobModifiers.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_nrpL = s_nrp.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string> s_nrpAmbiguous = Set("Black", "White", "Green Party", "Liberal", "Conservative", "Democratic", "Orthodox", "Roma", "Labour");

    private static FrozenSet<string> Set(params string[] items) => items.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc />
    public void Recognize(string text, ICollection<EntitySpan> results)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(results);
        if (text.Length == 0)
        {
            return;
        }

        bool hasDigit = text.AsSpan().IndexOfAnyInRange('0', '9') >= 0;
        if (hasDigit)
        {
            // Layout evidence (number, capitalized words, street type) outranks the tagger's reading of the words ("Baker Street" as a name).
            AddAll(StreetRegex(), text, EntityTypes.Location, 0.95, results);
            AddAll(EuropeanStreetRegex(), text, EntityTypes.Location, 0.92, results);
            AddAll(NumberFirstEuropeanRegex(), text, EntityTypes.Location, 0.92, results);
            AddAll(PoBoxRegex(), text, EntityTypes.Location, 0.95, results);
            AddAll(UkCanadaPostcodeRegex(), text, EntityTypes.ZipCode, 0.6, results);
            AddGroup(ZipWithCueRegex(), text, "zip", EntityTypes.ZipCode, 0.65, results);
            AddGroup(ZipBeforeCityRegex(), text, "zip", EntityTypes.ZipCode, 0.45, results);
            // Above the pattern set's AGE (0.6), which covers the words around the number.
            AddGroup(AgeRegex(), text, "age", EntityTypes.Age, 0.65, results);
            AddGroup(AgeOfRegex(), text, "age", EntityTypes.Age, 0.65, results);
        }

        ScanWords(text, results);
    }

    private static void AddAll(Regex regex, string text, string type, double score, ICollection<EntitySpan> results)
    {
        foreach (ValueMatch m in regex.EnumerateMatches(text))
        {
            int end = m.Index + m.Length;
            while (end > m.Index && text[end - 1] is ',' or ' ')
            {
                end--;
            }

            // A sentence's full stop after a full street word ("Baker Street.") is not part of the address; "St." keeps its dot.
            if (end - m.Index > 4 && text[end - 1] == '.' && char.IsLower(text[end - 2]) && char.IsLower(text[end - 3]) && char.IsLower(text[end - 4]))
            {
                end--;
            }

            results.Add(new EntitySpan(type, m.Index, end, score));
        }
    }

    private static void AddGroup(Regex regex, string text, string group, string type, double score, ICollection<EntitySpan> results)
    {
        for (Match m = regex.Match(text); m.Success; m = m.NextMatch())
        {
            Group g = m.Groups[group];
            if (g.Success)
            {
                results.Add(new EntitySpan(type, g.Index, g.Index + g.Length, score));
            }
        }
    }

    /// <summary>Job titles (modifiers ending in a job head word) and nationality / religion / party words, one pass over the words.</summary>
    private static void ScanWords(string text, ICollection<EntitySpan> results)
    {
        ReadOnlySpan<char> s = text;
        int i = 0;
        int runStart = -1;      // start of the current run of job modifiers
        int prevEnd = -1;
        while (i < s.Length)
        {
            if (!char.IsLetter(s[i]))
            {
                i++;
                continue;
            }

            int start = i;
            while (i < s.Length && (char.IsLetter(s[i]) || ((s[i] is '-' or '\'') && i + 1 < s.Length && char.IsLetter(s[i + 1]))))
            {
                i++;
            }

            ReadOnlySpan<char> word = s[start..i];
            bool adjacent = prevEnd >= 0 && IsSpaceOnly(s[prevEnd..start]);
            if (!adjacent)
            {
                runStart = -1;
            }

            if (s_jobHeadsL.Contains(word))
            {
                int from = runStart >= 0 ? runStart : start;
                bool titled = from != start || char.IsUpper(word[0]);
                // A lone lower-case head word ("the manager said") is too common to be PII; a capitalized or modified one is a title.
                if (titled && !(from == start && word.Length <= 4 && !IsAllUpper(word)))
                {
                    results.Add(new EntitySpan(EntityTypes.Title, from, i, from != start ? 0.55 : 0.4));
                }

                runStart = s_jobModifiersL.Contains(word) ? from : -1;
            }
            else if (s_jobModifiersL.Contains(word) && !(word is "of" or "and" or "&" && runStart < 0))
            {
                if (runStart < 0)
                {
                    runStart = start;
                }
            }
            else
            {
                runStart = -1;
            }

            if (char.IsUpper(word[0]))
            {
                // Two-word groups first ("South African", "Native American").
                int next = i;
                while (next < s.Length && s[next] == ' ')
                {
                    next++;
                }

                int nextEnd = next;
                while (nextEnd < s.Length && char.IsLetter(s[nextEnd]))
                {
                    nextEnd++;
                }

                if (next == i + 1 && nextEnd > next && s_nrpL.Contains(s[start..nextEnd]))
                {
                    results.Add(new EntitySpan(EntityTypes.Nrp, start, nextEnd, 0.6));
                }
                else if (s_nrpL.Contains(word))
                {
                    results.Add(new EntitySpan(EntityTypes.Nrp, start, i, s_nrpAmbiguous.Contains(word.ToString()) ? 0.2 : 0.55));
                }
            }

            prevEnd = i;
        }
    }

    private static bool IsSpaceOnly(ReadOnlySpan<char> gap) => gap.Length is > 0 and <= 2 && gap.Trim().IsEmpty && !gap.Contains('\n');

    private static bool IsAllUpper(ReadOnlySpan<char> word)
    {
        foreach (char c in word)
        {
            if (!char.IsUpper(c))
            {
                return false;
            }
        }

        return true;
    }
}
