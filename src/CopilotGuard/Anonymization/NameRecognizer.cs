using System.Buffers;
using System.Collections.Frozen;

namespace CopilotGuard.Anonymization;

/// <summary>Finds PERSON, LOCATION and ORGANIZATION names with rules and gazetteers: titles, capitalization, context words, name and place lists.</summary>
/// <remarks>
/// No NER model is involved: runs of capitalized words are classified by titles (Mr., Dr.), organization suffixes
/// (Inc., GmbH, University), the embedded given-name, surname and GeoNames place lists, and the words around them.
/// Common words that are also names ("Will", "May", "Mobile") count only with supporting context. Precision and recall
/// are measured on a labelled set in the tests; a model-backed <see cref="IEntityRecognizer"/> can replace or join it.
/// Thread-safe.
/// </remarks>
public sealed class NameRecognizer : IEntityRecognizer
{
    private static readonly SearchValues<char> s_upper = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    private static readonly SearchValues<char> s_asciiLettersAndDigits = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    private static readonly Lazy<NameRecognizer> s_default = new(() => new NameRecognizer(Gazetteers.Default));

    private static readonly FrozenSet<string> s_titles = Set("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Sir", "Dame", "Madam", "Mister", "Judge", "Rev", "Reverend");

    private static readonly FrozenSet<string> s_orgSuffixes = Set(
        "Inc", "Incorporated", "Corp", "Corporation", "LLC", "LLP", "Ltd", "Limited", "GmbH", "AG", "SA", "SAS", "BV", "NV", "PLC", "Co",
        "Company", "Group", "Bank", "University", "College", "Institute", "Foundation", "Hospital", "Clinic", "Holdings", "Partners",
        "Associates", "Airlines", "Airways", "Technologies", "Systems", "Labs", "Laboratories", "Pharmaceuticals", "Traders", "Toys",
        "Industries", "Enterprises", "Solutions", "Consulting", "Insurance", "Bancorp", "Trust", "Agency", "Council", "Ministry", "Department",
        "School", "Academy", "Society", "Association", "Federation", "Union", "Committee", "Commission", "Services", "Motors", "Energy", "Media");

    private static readonly FrozenSet<string> s_orgPrefixes = Set("University", "Bank", "Institute", "College", "Department", "Ministry", "School", "Academy", "Museum");

    private static readonly FrozenSet<string> s_streetSuffixes = Set("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Way", "Court", "Ct", "Place", "Square", "Parkway", "Pkwy", "Highway", "Terrace");

    private static readonly FrozenSet<string> s_personContext = Set(
        "dear", "hi", "hello", "hey", "thanks", "thank", "regards", "cheers", "ask", "asked", "contact", "cc", "call", "called", "email", "emailed",
        "tell", "told", "ping", "with", "by", "from", "patient", "customer", "client", "employee", "manager", "colleague", "user", "member",
        "mr", "mrs", "ms", "dr", "said", "says", "wrote", "writes", "met", "meet", "loop", "introduce", "named", "name");

    private static readonly FrozenSet<string> s_placeContext = Set(
        "in", "at", "from", "to", "near", "via", "around", "outside", "inside", "across", "between", "into", "toward", "towards", "throughout", "visit", "visited", "based", "located");

    private static readonly FrozenSet<string> s_placeNext = Set("office", "offices", "team", "branch", "campus", "area", "site", "headquarters", "hq", "warehouse", "clinic", "hospital", "airport", "region", "store", "plant", "factory", "facility", "city", "county", "state");

    private static readonly FrozenSet<string> s_connectors = Set("of", "de", "da", "del", "della", "van", "von", "der", "den", "du", "la", "le", "bin", "al", "y");

    /// <summary>The length of the longest connector: the next lower-case word is read no further than one character past it.</summary>
    private const int MaxConnectorLength = 5;

    /// <summary>Words that are capitalized at sentence starts or are common words as well as names or places; they need context.</summary>
    private static readonly FrozenSet<string> s_common = Set(
        "A", "An", "The", "This", "That", "These", "Those", "It", "Its", "I", "We", "You", "He", "She", "They", "Our", "Your", "My", "His", "Her", "Their",
        "If", "When", "While", "Where", "What", "Which", "Who", "Why", "How", "And", "But", "Or", "So", "Yet", "For", "Nor", "As", "At", "By", "In", "On",
        "Of", "To", "From", "With", "Without", "About", "After", "Before", "During", "Since", "Until", "Once", "Then", "Also", "All", "Any", "Each",
        "Every", "Some", "No", "Not", "Yes", "Please", "Thanks", "Thank", "Hi", "Hello", "Dear", "Hey", "Regards", "Best", "Kind", "Cheers", "Sincerely",
        "Will", "May", "Can", "Could", "Would", "Should", "Must", "Shall", "Might", "Do", "Does", "Did", "Is", "Are", "Was", "Were", "Be", "Been", "Have",
        "Has", "Had", "Let", "Lets", "Ask", "Tell", "Send", "Call", "Contact", "Review", "Check", "Note", "See", "Make", "Mark", "Bill", "Sue", "Rob",
        "Pat", "Chase", "Hunter", "Page", "Guy", "Ray", "Dean", "Frank", "Sandy", "Dawn", "Eve", "Grace", "Hope", "Faith", "Joy", "Summer", "Autumn",
        "Winter", "Spring", "Rose", "Iris", "Lily", "Ivy", "Holly", "Jade", "Ruby", "Amber", "Crystal", "Pearl", "Sky", "Rain", "River", "Stone",
        "Destiny", "Precious", "Justice", "Royal", "King", "Prince", "Princess", "Angel", "Major", "General", "Long", "Lead", "Mobile", "Reading",
        "Bath", "Nice", "Orange", "Split", "Lincoln", "March", "April", "June", "July", "August", "January", "February", "September", "October",
        "November", "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Today", "Tomorrow", "Yesterday",
        "Customer", "Customers", "Patient", "Patients", "Employee", "Employees", "Client", "Clients", "Manager", "Team", "Staff", "User", "Users",
        "Sales", "Finance", "Payroll", "Support", "Marketing", "Legal", "Engineering", "Product", "Account", "Accounts", "Order", "Invoice",
        "Ticket", "Case", "Report", "Summary", "Meeting", "Project", "Program", "Policy", "Data", "Total", "New", "Old", "Next", "Last", "First",
        "Second", "Third", "Final", "Other", "Another", "More", "Most", "Many", "Much", "Few", "Several", "Both", "Either", "Neither", "Here",
        "There", "Now", "Just", "Only", "Even", "Still", "Already", "Again", "However", "Therefore", "Moreover", "Overall", "Finally", "Also",
        "Per", "Via", "Re", "Fwd", "Subject", "Attached", "Following", "Given", "Based", "According", "Use", "Using", "Used", "Add", "Update",
        "Updated", "Approved", "Pending", "Open", "Closed", "Hold", "Status", "Priority", "High", "Low", "Medium", "Urgent", "Important", "Due",
        "Young", "Little", "Green", "Brown", "White", "Black", "Gray", "Grey", "Wood", "Hall", "Bell", "Price", "Cash", "Law", "Story", "Case",
        "Christian", "Wang", "Ford", "Cross", "Bush", "Hill", "Park", "Field", "Lake", "Bay", "Beach", "Port", "Mount", "Fort", "North", "South",
        "East", "West", "Central", "Western", "Eastern", "Northern", "Southern", "Union", "Republic", "Kingdom", "Federal", "National", "Global",
        "International", "Standard", "Premium", "Basic", "Enterprise", "Cloud", "Server", "Microsoft", "Teams", "Office", "Excel", "Word", "Windows",
        "Azure", "Outlook", "SharePoint", "Copilot", "Google", "Apple", "Amazon", "Dell", "Oracle", "Cisco");

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_commonNotTitleL = s_common.Except(s_titles, StringComparer.OrdinalIgnoreCase).ToFrozenSet(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_titlesL = s_titles.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_orgSuffixesL = s_orgSuffixes.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_orgPrefixesL = s_orgPrefixes.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_streetL = s_streetSuffixes.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_personContextL = s_personContext.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_placeContextL = s_placeContext.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_placeNextL = s_placeNext.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_connectorsL = s_connectors.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_commonL = s_common.GetAlternateLookup<ReadOnlySpan<char>>();

    private readonly Gazetteers _gaz;

    private NameRecognizer(Gazetteers gazetteers) => _gaz = gazetteers;

    /// <summary>Gets the shared instance built from the embedded gazetteers (loaded on first use).</summary>
    public static NameRecognizer Default => s_default.Value;

    /// <inheritdoc />
    public string Name => "names";

    /// <inheritdoc />
    public IReadOnlyCollection<string> SupportedEntities { get; } = [EntityTypes.Person, EntityTypes.Location, EntityTypes.Organization];

    /// <summary>Returns whether a word is also a common English word (so matching it needs capitalization or context).</summary>
    internal static bool IsCommonWord(ReadOnlySpan<char> word) => s_commonL.Contains(word);

    /// <summary>Returns whether a word is a personal title such as Mr or Dr.</summary>
    internal static bool IsTitle(ReadOnlySpan<char> word) => s_titlesL.Contains(word);

    private static FrozenSet<string> Set(params string[] items) => items.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private struct Token
    {
        public int Start;
        public int End;     // end of the word, without a trailing dot
        public bool Dot;    // followed by '.'
        public bool Connector;
    }

    /// <inheritdoc />
    public void Recognize(string text, ICollection<EntitySpan> results) => Recognize(text, results, skipLoneCommonWords: true);

    /// <summary>Classifies every capitalized run, lone common words included: the plain form of <see cref="Recognize(string, ICollection{EntitySpan})"/>, kept for the differential tests.</summary>
    internal void RecognizeEveryRun(string text, ICollection<EntitySpan> results) => Recognize(text, results, skipLoneCommonWords: false);

    private void Recognize(string text, ICollection<EntitySpan> results, bool skipLoneCommonWords)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(results);
        ReadOnlySpan<char> s = text;
        Span<Token> tokens = stackalloc Token[8];
        int pos = 0;
        int lastLocationEnd = -10;
        while (pos < s.Length)
        {
            int rel = s[pos..].IndexOfAny(s_upper);
            if (rel < 0)
            {
                return;
            }

            int p = pos + rel;
            if (p > 0 && (char.IsLetterOrDigit(s[p - 1]) || s[p - 1] is '\'' or '’' or '@' or '_' or '-' or '/' or '.' or '#'))
            {
                pos = WordEnd(s, p);
                continue;
            }

            int n = ReadRun(s, p, tokens);
            int runEnd = tokens[n - 1].End + (tokens[n - 1].Dot ? 1 : 0);

            if (!(skipLoneCommonWords && n == 1 && CannotBeEntity(s[tokens[0].Start..tokens[0].End])))
            {
                Classify(s, tokens[..n], results, ref lastLocationEnd);
            }

            pos = Math.Max(runEnd, p + 1);
        }
    }

    /// <summary>
    /// Returns whether <see cref="Classify"/> would find nothing in a run of this one word: a common word that is not a title
    /// is stripped ("The", "Please"), and otherwise only a place or a given name can be reported alone.
    /// </summary>
    private bool CannotBeEntity(ReadOnlySpan<char> word) =>
        s_commonNotTitleL.Contains(word) || (!_gaz.PlaceLookup.ContainsKey(word) && !_gaz.GivenLookup.ContainsKey(word));

    private static int WordEnd(ReadOnlySpan<char> s, int p, int maxLength = int.MaxValue)
    {
        // A bounded scan stops early: a word longer than maxLength - 1 then ends at p + maxLength, never at a space.
        int limit = (int)Math.Min(s.Length, (long)p + maxLength);
        while (p < limit)
        {
            // Skip ASCII letters and digits in one vectorized step, then look at the character that stopped it.
            int rel = s[p..limit].IndexOfAnyExcept(s_asciiLettersAndDigits);
            if (rel < 0)
            {
                return limit;
            }

            p += rel;
            if (!(char.IsLetterOrDigit(s[p]) || ((s[p] is '\'' or '-' or '’') && p + 1 < s.Length && char.IsLetter(s[p + 1]))))
            {
                return p;
            }

            p++;
        }

        return p;
    }

    /// <summary>Reads capitalized words separated by single spaces (with "of", "van" and the like between them).</summary>
    private static int ReadRun(ReadOnlySpan<char> s, int p, Span<Token> tokens)
    {
        int n = 0;
        while (n < tokens.Length)
        {
            int end = WordEnd(s, p);
            bool dot = end < s.Length && s[end] == '.' && (end + 1 >= s.Length || s[end + 1] == ' ');
            tokens[n++] = new Token { Start = p, End = end, Dot = dot };
            int next = end + (dot ? 1 : 0);

            // A dot ends the run (a sentence end) unless it closes an initial, a title or an abbreviation ("J.", "Dr.", "Inc.").
            bool sentenceDot = dot && end - p > 1 && !s_titlesL.Contains(s[p..end]) && !s_orgSuffixesL.Contains(s[p..end]);
            if (sentenceDot || next + 1 >= s.Length || s[next] != ' ')
            {
                break;
            }

            int q = next + 1;
            if (char.IsAsciiLetterUpper(s[q]))
            {
                p = q;
                continue;
            }

            // A lower-case connector followed by a capitalized word: "University of Michigan", "Ludwig van Beethoven".
            int cEnd = WordEnd(s, q, MaxConnectorLength + 1);
            if (cEnd > q && cEnd + 1 < s.Length && s[cEnd] == ' ' && char.IsAsciiLetterUpper(s[cEnd + 1]) && s_connectorsL.Contains(s[q..cEnd]) && n < tokens.Length - 1)
            {
                tokens[n++] = new Token { Start = q, End = cEnd, Connector = true };
                p = cEnd + 1;
                continue;
            }

            break;
        }

        // Never end on a connector.
        while (n > 1 && tokens[n - 1].Connector)
        {
            n--;
        }

        return n;
    }

    private void Classify(ReadOnlySpan<char> s, Span<Token> t, ICollection<EntitySpan> results, ref int lastLocationEnd)
    {
        bool sentenceStart = IsSentenceStart(s, t[0].Start);
        ReadOnlySpan<char> prevWord = PreviousWord(s, t[0].Start);

        // Organization: a suffix ("Contoso Ltd", "Woodgrove Bank") or a prefix with "of" ("University of Michigan").
        int org = FindOrganization(s, t);
        if (org > 0 && t[org - 1].Connector && org >= 2)
        {
            // "Professor Linda Chen of Stanford University": classify the part before the connector on its own.
            Classify(s, t[..(org - 1)], results, ref lastLocationEnd);
        }

        if (org >= 0)
        {
            int end = t[^1].End + (t[^1].Dot && IsAbbreviation(s, t[^1]) ? 1 : 0);
            results.Add(new EntitySpan(EntityTypes.Organization, t[org].Start, end, 0.85));
            return;
        }

        // Strip leading common words ("The", "Customer", "Please", "Hi") but remember them as context.
        int i = 0;
        bool personContext = s_personContextL.Contains(prevWord);
        while (i < t.Length && !t[i].Connector && s_commonL.Contains(Word(s, t[i])) && !s_titlesL.Contains(Word(s, t[i])))
        {
            personContext |= s_personContextL.Contains(Word(s, t[i]));
            sentenceStart = false;
            prevWord = Word(s, t[i]);
            i++;
            if (i == t.Length)
            {
                return;
            }

            // A stripped leading word leaves the rest not at the sentence start, but the word itself is weak context.
        }

        bool firstIsSentenceStart = i == 0 && IsSentenceStart(s, t[0].Start);
        Span<Token> rest = t[i..];

        // A title inside the run ("Later Mr. Turner"): the name starts at the title.
        for (int k = 1; k < rest.Length - 1; k++)
        {
            if (s_titlesL.Contains(Word(s, rest[k])) && !rest[k + 1].Connector)
            {
                rest = rest[k..];
                break;
            }
        }

        // Title + name: "Dr. Sarah Mitchell", "Ms. Thompson", "Professor Linda Chen".
        if (s_titlesL.Contains(Word(s, rest[0])) && rest.Length > 1 && !rest[1].Connector)
        {
            int end = PersonEnd(rest);

            // "Dr. Sarah Mitchell Maria Garcia": a given name + another word after the first two names starts a second person.
            if (end == 3 && rest.Length > 4 && _gaz.GivenLookup.ContainsKey(Word(s, rest[3])) && !rest[4].Connector)
            {
                end = 2;
            }

            results.Add(new EntitySpan(EntityTypes.Person, rest[0].Start, rest[end].End, 0.85));
            ClassifyRest(s, rest[(end + 1)..], results, ref lastLocationEnd);
            return;
        }

        // Street address: "221 Baker Street".
        if (s_streetL.Contains(Word(s, rest[^1])) && rest.Length >= 2 && PrecedingNumberStart(s, rest[0].Start) is int numberStart and >= 0)
        {
            results.Add(new EntitySpan(EntityTypes.Location, numberStart, rest[^1].End + (rest[^1].Dot ? 1 : 0), 0.7));
            return;
        }

        // Place names, longest first, anywhere in the run.
        if (TryPlaces(s, rest, prevWord, firstIsSentenceStart, results, ref lastLocationEnd))
        {
            return;
        }

        // Given name + capitalized surname (with optional middle initial): "Michael Turner", "Jane A. Doe".
        ReadOnlySpan<char> first = Word(s, rest[0]);
        bool given = _gaz.GivenLookup.TryGetValue(first, out _);
        bool commonFirst = s_commonL.Contains(first);
        if (rest.Length >= 2 && given && !(firstIsSentenceStart && commonFirst))
        {
            int last = 1;
            if (rest.Length >= 3 && IsInitial(s, rest[1]))
            {
                last = 2;
            }

            ReadOnlySpan<char> surname = Word(s, rest[last]);
            if (!rest[last].Connector && surname.Length >= 2 && !IsAllUpper(surname))
            {
                bool knownSurname = _gaz.SurnameLookup.ContainsKey(surname);
                double score = knownSurname ? 0.85 : (s_commonL.Contains(surname) ? 0.5 : 0.7);
                results.Add(new EntitySpan(EntityTypes.Person, rest[0].Start, rest[last].End, personContext ? Math.Min(1, score + 0.1) : score));
                ClassifyRest(s, rest[(last + 1)..], results, ref lastLocationEnd);
                return;
            }
        }

        // An unknown capitalized word + a frequent surname: "Priya Patel".
        if (rest.Length == 2 && !commonFirst && !firstIsSentenceStart && first.Length >= 3 && !IsAllUpper(first)
            && _gaz.SurnameLookup.TryGetValue(Word(s, rest[1]), out int rank) && rank <= 5000 && !s_commonL.Contains(Word(s, rest[1])))
        {
            results.Add(new EntitySpan(EntityTypes.Person, rest[0].Start, rest[1].End, personContext ? 0.7 : 0.6));
            return;
        }

        // Initial + surname: "J. Doe".
        if (rest.Length >= 2 && IsInitial(s, rest[0]) && _gaz.SurnameLookup.ContainsKey(Word(s, rest[1])))
        {
            results.Add(new EntitySpan(EntityTypes.Person, rest[0].Start, rest[1].End, 0.6));
            ClassifyRest(s, rest[2..], results, ref lastLocationEnd);
            return;
        }

        // A single given name: only when not sentence-initial (or after a stripped word) and not a common word.
        if (rest.Length == 1 && given && !commonFirst && !firstIsSentenceStart && first.Length >= 3)
        {
            double score = personContext || IsVocative(s, rest[0]) ? 0.75 : 0.5;
            results.Add(new EntitySpan(EntityTypes.Person, rest[0].Start, rest[0].End, score));
        }
    }

    private bool TryPlaces(ReadOnlySpan<char> s, Span<Token> t, ReadOnlySpan<char> prevWord, bool sentenceStart, ICollection<EntitySpan> results, ref int lastLocationEnd)
    {
        bool found = false;
        int i = 0;
        while (i < t.Length)
        {
            int matched = 0;
            PlaceKind kind = default;
            for (int len = Math.Min(4, t.Length - i); len >= 1; len--)
            {
                ReadOnlySpan<char> name = s[t[i].Start..t[i + len - 1].End];
                if (_gaz.PlaceLookup.TryGetValue(name, out kind))
                {
                    matched = len;
                    break;
                }
            }

            if (matched == 0)
            {
                i++;
                continue;
            }

            int start = t[i].Start, end = t[i + matched - 1].End;
            ReadOnlySpan<char> before = i == 0 ? prevWord : Word(s, t[i - 1]);
            ReadOnlySpan<char> after = NextWord(s, end);
            bool context = s_placeContextL.Contains(before) || s_placeNextL.Contains(after) || IsListContinuation(s, lastLocationEnd, start);
            ReadOnlySpan<char> name0 = s[start..end];
            bool ambiguous = s_commonL.Contains(name0) || (matched == 1 && (_gaz.GivenLookup.ContainsKey(name0) || _gaz.SurnameLookup.ContainsKey(name0)));
            double score;
            if (kind >= PlaceKind.Subdivision && !ambiguous)
            {
                score = context ? 0.9 : 0.8;
            }
            else if (context)
            {
                score = ambiguous && s_commonL.Contains(name0) ? 0.5 : 0.8;
            }
            else if (!ambiguous && !(sentenceStart && i == 0) && (matched > 1 || name0.Length >= 4))
            {
                score = 0.5;
            }
            else
            {
                i += matched;
                continue;
            }

            results.Add(new EntitySpan(EntityTypes.Location, start, end, score));
            lastLocationEnd = end;
            found = true;
            i += matched;
        }

        return found;
    }

    /// <summary>Classifies what follows a name in the same run, so a second name written right after the first
    /// ("... says Sarah Mitchell Maria Garcia wrote ...") is found too, not left in clear.</summary>
    private void ClassifyRest(ReadOnlySpan<char> s, Span<Token> t, ICollection<EntitySpan> results, ref int lastLocationEnd)
    {
        int i = 0;
        while (i < t.Length && t[i].Connector)
        {
            i++;
        }

        if (i < t.Length)
        {
            Classify(s, t[i..], results, ref lastLocationEnd);
        }
    }

    private static bool IsListContinuation(ReadOnlySpan<char> s, int lastEnd, int start)
    {
        if (lastEnd < 0 || start - lastEnd > 6 || start <= lastEnd)
        {
            return false;
        }

        ReadOnlySpan<char> gap = s[lastEnd..start].Trim();
        return gap is "," or "and" or ", and" or "or" or "&" or "/";
    }

    private static int FindOrganization(ReadOnlySpan<char> s, Span<Token> t)
    {
        if (t.Length >= 2 && s_orgSuffixesL.Contains(Word(s, t[^1])))
        {
            // The organization starts after leading common words ("Our partners at", "The"), or after a connector
            // unless an organization word precedes it ("University of Michigan Hospital").
            int i = 0;
            for (int k = t.Length - 2; k > 0; k--)
            {
                if (t[k].Connector && !s_orgPrefixesL.Contains(Word(s, t[k - 1])))
                {
                    i = k + 1;
                    break;
                }
            }

            while (i < t.Length - 1 && s_commonL.Contains(Word(s, t[i])) && !s_orgPrefixesL.Contains(Word(s, t[i])))
            {
                i++;
            }

            return i < t.Length - 1 ? i : -1;
        }

        for (int i = 0; i + 2 < t.Length; i++)
        {
            if (s_orgPrefixesL.Contains(Word(s, t[i])) && t[i + 1].Connector)
            {
                return i;
            }
        }

        return -1;
    }

    private static int PersonEnd(Span<Token> rest)
    {
        // Title, then up to three name words (initials included).
        int end = 1;
        while (end + 1 < rest.Length && end < 3 && !rest[end + 1].Connector)
        {
            end++;
        }

        return end;
    }

    private static bool IsAbbreviation(ReadOnlySpan<char> s, Token t) => s_orgSuffixesL.Contains(s[t.Start..t.End]) && t.End - t.Start <= 4;

    private static bool IsInitial(ReadOnlySpan<char> s, Token t) => t.End - t.Start == 1 && char.IsAsciiLetterUpper(s[t.Start]);

    private static bool IsAllUpper(ReadOnlySpan<char> w)
    {
        foreach (char c in w)
        {
            if (char.IsLower(c))
            {
                return false;
            }
        }

        return w.Length > 1;
    }

    private static bool IsVocative(ReadOnlySpan<char> s, Token t)
    {
        // "Thanks, Kevin" or "Hope you are well, Samantha!": a comma before and the end of the sentence after.
        int before = t.Start - 1;
        while (before >= 0 && s[before] == ' ')
        {
            before--;
        }

        int after = t.End;
        return before >= 0 && s[before] == ',' && (after >= s.Length || s[after] is '!' or '.' or '\n' or ',' or '\r');
    }

    private static ReadOnlySpan<char> Word(ReadOnlySpan<char> s, Token t) => s[t.Start..t.End];

    private static bool IsSentenceStart(ReadOnlySpan<char> s, int start)
    {
        int p = start - 1;
        while (p >= 0 && s[p] is ' ' or '\t' or '"' or '\'' or '“' or '(' or '*' or '-' or '•')
        {
            p--;
        }

        return p < 0 || s[p] is '.' or '!' or '?' or '\n' or '\r' or ':' or ';';
    }

    private static ReadOnlySpan<char> PreviousWord(ReadOnlySpan<char> s, int start)
    {
        int p = start - 1;
        while (p >= 0 && s[p] is ' ' or ',')
        {
            p--;
        }

        int end = p + 1;
        while (p >= 0 && char.IsLetter(s[p]))
        {
            p--;
        }

        return s[(p + 1)..end];
    }

    private static ReadOnlySpan<char> NextWord(ReadOnlySpan<char> s, int end)
    {
        int p = end;
        while (p < s.Length && s[p] == ' ')
        {
            p++;
        }

        int start = p;
        while (p < s.Length && char.IsLetter(s[p]))
        {
            p++;
        }

        return s[start..p];
    }

    private static int PrecedingNumberStart(ReadOnlySpan<char> s, int start)
    {
        int p = start - 1;
        if (p < 1 || s[p] != ' ' || !char.IsAsciiDigit(s[p - 1]))
        {
            return -1;
        }

        p--;
        while (p > 0 && (char.IsAsciiDigit(s[p - 1]) || char.IsAsciiLetter(s[p - 1])))
        {
            p--;
        }

        return p;
    }
}
