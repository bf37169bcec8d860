using System.Text;

namespace CopilotGuard.Anonymization.Ner;

/// <summary>
/// Generates person-, place- and organization-heavy business sentences (messages, e-mails, addresses, notes) from
/// fixed templates and the embedded gazetteers, with gold spans. Deterministic for a seed. Used to add training text
/// for the tagger and as a generated evaluation set (which, being in-distribution, overstates real-text accuracy).
/// </summary>
public static class TrainingTextGenerator
{
    private static readonly string[] Templates =
    [
        "Please forward the signed contract to {PER} at {ORG} before Friday.",
        "{PER} moved from {LOC} to {LOC} last year and now works for {ORG}.",
        "Hi {FIRST}, can you send me the Q3 numbers for the {LOC} office?",
        "Dear {TITLE} {LAST}, thank you for your order with {ORG}.",
        "Meeting notes: {PER} ({ORG}) and {PER} agreed to postpone the launch in {LOC}.",
        "Thanks, {FIRST}",
        "Best regards,\n{PER}\n{ORG}\n{LOC}",
        "I spoke with {PER} yesterday about the audit.",
        "{ORG} announced that {PER} will lead its operations in {LOC}.",
        "The patient, {PER}, was transferred to {ORG} in {LOC}.",
        "Can someone ask {FIRST} whether the invoice from {ORG} was paid?",
        "{PER} is our new account manager for {LOC} and {LOC}.",
        "Our team in {LOC} will host {PER} from {ORG} next week.",
        "According to {PER}, the shipment left {LOC} on Monday.",
        "We have been customers of {ORG} for ten years and the service in {LOC} is great.",
        "My name is {PER} and I live in {LOC}.",
        "Call {FIRST} at the {LOC} branch if the system is down again.",
        "{TITLE} {PER} will review the claim filed by {PER}.",
        "The board of {ORG} met in {LOC} to discuss the merger with {ORG}.",
        "I recommend {ORG}, ask for {FIRST}, he was really helpful.",
        "Ticket assigned to {PER}; escalated to {PER} on the {ORG} side.",
        "{FIRST} and {FIRST} are flying to {LOC} for the conference.",
        "Has anyone heard back from {LAST} about the {LOC} lease?",
        "Send the draft to {FIRST} {LAST} and copy {PER}.",
        "{PER}, a lawyer at {ORG}, said the case would settle.",
        "The new warehouse near {LOC} is run by {ORG}.",
        "We went to {LOC} with {FIRST} last summer, highly recommended.",
        "Employee {PER} was hired on 3 March and reports to {PER}.",
        "{ORG} and {ORG} signed a supply agreement in {LOC}.",
        "Ship to: {PER}, {ADDR}, {LOC}",
        "{PER} lives at {ADDR} in {LOC}.",
        "Please update the billing address for {ORG} to {ADDR}, {LOC}.",
        "Quick question for {FIRST}: is the {LOC} site open on Saturday?",
        "The Sales team reviewed the Project Status report with {PER}.",
        "Is the Monday meeting still on? The Finance team needs the numbers.",
        "The Customer Support portal will be down for maintenance on Sunday.",
        "Please Review the attached Policy before the Quarterly Update.",
        "Microsoft Teams and Outlook were slow this morning, according to IT.",
        "I bought the Premium plan in January and cancelled it in March.",
        "From: {PER}\nTo: {PER}\nSubject: {ORG} renewal",
        "{LAST} said {ORG} would not renew the contract in {LOC}.",
        "Visited {LOC} in April; {ORG} had a booth there.",
        "{PER} ({LOC}) replied that {ORG} needs another week.",
        "our rep {FIRST} from {ORG} never called back",
        "does anyone know a good dentist in {LOC}?",
        "{PER} was born in {LOC} and studied at {ORG}.",
        "The {NAT} delegation met {PER} in {LOC}.",
        "Contact person: {PER}, {ORG}",
        "{FIRST}'s flight to {LOC} was delayed.",
        "Reviewed by {PER} on behalf of {ORG}.",
        "{PER}, {JOB} at {ORG}, approved the budget.",
        "Our {JOB}, {PER}, will join the call from {LOC}.",
        "{PER} was promoted to {JOB} in {LOC}.",
        "i think {FIRST} is right, {ORG} is overpriced.",
        "we stayed at a hotel in {LOC} and {FIRST} at the front desk was very kind",
        "{PER} wrote: the {LOC} numbers look off, can {FIRST} double-check?",
        "The Annual Report is due on Friday, please send comments to the Finance Department.",
        "Great service and friendly staff, would definitely come back!",
        "Windows Update broke the VPN client again on Tuesday.",
        "He said the President would visit the region in May.",
    ];

    private static readonly string[] Titles = ["Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "Mr", "Ms"];
    private static readonly string[] OrgSuffixes = ["Inc.", "LLC", "Ltd", "Corp.", "Group", "GmbH", "& Co.", "Partners", "Holdings", "Logistics", "Consulting", "Bank", "Insurance", "Systems", "Foods", "Healthcare", "Capital", "Labs", "Media", "Energy", "PLC", "Services", "Motors"];
    private static readonly string[] OrgWords = ["Blue River", "Northwind", "Summit", "Pioneer", "Evergreen", "Atlas", "Beacon", "Silverline", "Redwood", "Horizon", "Keystone", "Bright Path", "Ironclad", "Greenfield", "Crescent", "Lakeside", "Cobalt", "Meridian", "Harbor", "Granite"];
    private static readonly string[] StreetTypes = ["Street", "St.", "Avenue", "Ave", "Road", "Rd.", "Lane", "Drive", "Boulevard", "Way", "Court", "Place"];
    private static readonly string[] Nationalities = ["German", "French", "Japanese", "Brazilian", "Canadian", "Indian", "Nigerian", "Mexican", "Polish", "Korean"];

    /// <summary>Generates <paramref name="count"/> texts with gold spans.</summary>
    /// <param name="count">How many texts.</param>
    /// <param name="seed">The seed; the same seed gives the same texts.</param>
    /// <returns>The texts.</returns>
    public static IReadOnlyList<GoldText> Generate(int count, int seed)
    {
        Gazetteers gaz = Gazetteers.Default;
        // Sorted: the frozen dictionaries' order depends on per-process string hashing.
        NerLexicon lexicon = NerLexicon.Default;
        string[] given = [.. gaz.GivenNames.Keys.Concat(lexicon.IntlGivenNames).Where(static n => !NameRecognizer.IsCommonWord(n)).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal)];
        string[] surnames = [.. gaz.Surnames.OrderBy(static s => s.Value).Take(8000).Select(static s => s.Key).Concat(lexicon.IntlSurnames).Where(static n => !NameRecognizer.IsCommonWord(n)).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal)];
        string[] legal = [.. lexicon.LegalForms.Concat(OrgSuffixes).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        string[] jobs = [.. JobTitles(lexicon)];
        string[] places = [.. gaz.Places.Where(static p => p.Key.Length >= 4 && p.Key.All(static c => char.IsLetter(c) || c is ' ' or '-') && !NameRecognizer.IsCommonWord(p.Key)).Select(static p => p.Key).Order(StringComparer.Ordinal)];
        string[] countries = [.. gaz.Places.Where(static p => p.Value != PlaceKind.City && p.Key.All(static c => char.IsLetter(c) || c == ' ')).Select(static p => p.Key).Order(StringComparer.Ordinal)];
        var random = new Random(seed);
        var result = new List<GoldText>(count);
        for (int n = 0; n < count; n++)
        {
            string template = Templates[random.Next(Templates.Length)];
            bool lower = random.NextDouble() < 0.08;
            var sb = new StringBuilder();
            var spans = new List<EntitySpan>();
            int i = 0;
            while (i < template.Length)
            {
                int open = template.IndexOf('{', i);
                if (open < 0)
                {
                    sb.Append(template, i, template.Length - i);
                    break;
                }

                sb.Append(template, i, open - i);
                int close = template.IndexOf('}', open);
                string slot = template[(open + 1)..close];
                i = close + 1;
                (string value, string? type) = slot switch
                {
                    "PER" => (Person(random, given, surnames), EntityTypes.Person),
                    "FIRST" => (Name(given[random.Next(given.Length)]), EntityTypes.Person),
                    "LAST" => (Name(surnames[random.Next(surnames.Length)]), EntityTypes.Person),
                    "TITLE" => (Titles[random.Next(Titles.Length)], null),
                    "LOC" => (random.NextDouble() < 0.3 ? countries[random.Next(countries.Length)] : places[random.Next(places.Length)], EntityTypes.Location),
                    "ORG" => (Organization(random, surnames, places, legal), EntityTypes.Organization),
                    "JOB" => (jobs[random.Next(jobs.Length)], (string?)null),
                    "ADDR" => ($"{random.Next(1, 9999)} {Name(surnames[random.Next(surnames.Length)])} {StreetTypes[random.Next(StreetTypes.Length)]}", EntityTypes.Location),
                    "NAT" => (Nationalities[random.Next(Nationalities.Length)], (string?)null),
                    _ => (slot, null),
                };

                if (lower)
                {
                    value = value.ToLowerInvariant();
                }

                if (type is not null)
                {
                    spans.Add(new EntitySpan(type, sb.Length, sb.Length + value.Length, 1.0));
                }

                sb.Append(value);
            }

            string text = sb.ToString();
            if (lower)
            {
                text = text.ToLowerInvariant();
            }

            result.Add(new GoldText($"gen-{seed}-{n}", $"gen-{seed}-{n}", text, spans));
        }

        return result;
    }

    private static string Name(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Person(Random random, string[] given, string[] surnames)
    {
        string first = Name(given[random.Next(given.Length)]);
        string last = Name(surnames[random.Next(surnames.Length)]);
        double r = random.NextDouble();
        return r switch
        {
            < 0.65 => $"{first} {last}",
            < 0.75 => $"{first} {(char)('A' + random.Next(26))}. {last}",
            < 0.85 => first,
            < 0.92 => $"{first} {last}-{Name(surnames[random.Next(surnames.Length)])}",
            _ => last,
        };
    }

    private static IEnumerable<string> JobTitles(NerLexicon lexicon)
    {
        string[] descriptors = [.. lexicon.JobWords.Where(static j => j.Kind == "job_descriptor").Select(static j => j.Word)];
        string[] areas = [.. lexicon.JobWords.Where(static j => j.Kind == "job_area").Select(static j => j.Word)];
        string[] kinds = [.. lexicon.JobWords.Where(static j => j.Kind == "job_type").Select(static j => j.Word)];
        foreach (string d in descriptors)
        {
            foreach (string a in areas)
            {
                yield return $"{d} {a} {kinds[(d.Length + a.Length) % Math.Max(1, kinds.Length)]}";
            }
        }
    }

    private static string Organization(Random random, string[] surnames, string[] places, string[] legal)
    {
        double r = random.NextDouble();
        string last = Name(surnames[random.Next(surnames.Length)]);
        return r switch
        {
            < 0.25 => $"{last} {OrgSuffixes[random.Next(OrgSuffixes.Length)]}",
            < 0.35 => $"{last} {legal[random.Next(legal.Length)]}",
            < 0.5 => $"{last} & {Name(surnames[random.Next(surnames.Length)])}",
            < 0.75 => $"{OrgWords[random.Next(OrgWords.Length)]} {OrgSuffixes[random.Next(OrgSuffixes.Length)]}",
            < 0.85 => $"University of {places[random.Next(places.Length)]}",
            _ => $"{places[random.Next(places.Length)]} {OrgSuffixes[random.Next(OrgSuffixes.Length)]}",
        };
    }
}
