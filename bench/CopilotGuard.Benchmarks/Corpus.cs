using System.Text;

namespace CopilotGuard.Benchmarks;

/// <summary>Builds a deterministic "business prose" corpus with a few entities per KB (e-mails, phones, IPs, URLs, GUIDs, names, dates, amounts).</summary>
internal static class Corpus
{
    private static readonly string[] s_sentences =
    [
        "The quarterly review covered revenue, churn and the hiring plan for the next two quarters.",
        "Please make sure the onboarding checklist is complete before the new starters arrive on Monday.",
        "Our support team resolved most tickets within the agreed service level, with a few exceptions.",
        "The migration to the new billing platform is on track, although testing took longer than planned.",
        "Finance asked every department to submit their budget forecasts by the end of the month.",
        "The vendor confirmed that the replacement parts will ship within 15 business days.",
        "We agreed to revisit the pricing model after the pilot with three enterprise customers.",
        "Security reminded everyone to enable multi-factor authentication on all company accounts.",
        "The warehouse reported a 12% increase in returns compared with the same period last year.",
        "Leadership approved the proposal to consolidate the two analytics teams into one group.",
        "Training sessions on the updated expense policy will run every Thursday afternoon.",
        "The contract renewal includes a clause on data retention and a revised termination notice.",
        "Customer satisfaction scores improved after the knowledge base articles were rewritten.",
        "The incident was caused by an expired certificate on one of the load balancers.",
        "Marketing will launch the spring campaign once the legal review of the copy is finished.",
        "Total operating costs for Q3 came in at $1.2 million, slightly under the approved budget.",
    ];

    private static readonly string[] s_entitySentences =
    [
        "For questions contact {name} at {email} or call {phone}.",
        "The build server at {ip} was restarted after the outage on {date}.",
        "Documentation is available at {url} for all registered partners.",
        "Ticket {guid} was escalated to {name} in the {city} office.",
        "Please send the signed form to {email} before {date}.",
        "{name} can be reached on {phone} during business hours.",
    ];

    private static readonly string[] s_names = ["Jane Doe", "Michael Turner", "Priya Patel", "Robert Johnson", "Maria Garcia", "David Kim"];
    private static readonly string[] s_cities = ["Seattle", "London", "Chicago", "Paris", "Toronto"];

    /// <summary>Builds about <paramref name="bytes"/> characters of text (ASCII, so characters equal bytes).</summary>
    public static string Build(int bytes, int seed = 42)
    {
        var random = new Random(seed);
        var sb = new StringBuilder(bytes + 256);
        int sinceEntity = 0;
        while (sb.Length < bytes)
        {
            // About three entity sentences per KB of prose.
            if (sinceEntity > 280 && random.Next(3) == 0)
            {
                string t = s_entitySentences[random.Next(s_entitySentences.Length)];
                t = t.Replace("{name}", s_names[random.Next(s_names.Length)], StringComparison.Ordinal)
                    .Replace("{email}", $"user{random.Next(1000)}@contoso.com", StringComparison.Ordinal)
                    .Replace("{phone}", $"+1 (425) 555-{random.Next(1000, 9999)}", StringComparison.Ordinal)
                    .Replace("{ip}", $"10.{random.Next(256)}.{random.Next(256)}.{random.Next(1, 255)}", StringComparison.Ordinal)
                    .Replace("{url}", $"https://docs.contoso.com/kb/{random.Next(100000)}", StringComparison.Ordinal)
                    .Replace("{guid}", new Guid(random.Next(), (short)random.Next(), (short)random.Next(), 1, 2, 3, 4, 5, 6, 7, 8).ToString(), StringComparison.Ordinal)
                    .Replace("{date}", $"March {random.Next(1, 28)}, 2024", StringComparison.Ordinal)
                    .Replace("{city}", s_cities[random.Next(s_cities.Length)], StringComparison.Ordinal);
                sb.Append(t);
                sinceEntity = 0;
            }
            else
            {
                string t = s_sentences[random.Next(s_sentences.Length)];
                sb.Append(t);
                sinceEntity += t.Length;
            }

            sb.Append(random.Next(6) == 0 ? "\n\n" : " ");
        }

        return sb.ToString();
    }
}
