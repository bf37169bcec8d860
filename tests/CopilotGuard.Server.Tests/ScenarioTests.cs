using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Server.Tests.PostgreSql;

namespace CopilotGuard.Server.Tests;

/// <summary>What each sample person can and cannot retrieve, over HTTP, for the product scenarios of the sample corpus (README, "Try it").</summary>
public abstract class ScenarioTests(StoreServerFixture server)
{
    private static readonly string[] Queries =
    [
        "salary bands and payroll", "parental leave", "POS terminals offline", "asthma follow-up", "suspicious card transactions",
        "spring campaign", "invoice reconciliation", "database migration plan", "refund approval thresholds", "patient diabetes check",
        "social security number", "employee relations case",
    ];

    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;

    public static TheoryData<string> AllQueries => [.. Queries];

    [StoreTheory]
    [MemberData(nameof(AllQueries))]
    public async Task Carol_MarketingCoordinator_NeverReachesHrPayrollClinicalOrTickets(string query)
    {
        var (_, chunks) = await server.RetrieveAsync("carol", query);
        Assert.All(chunks, chunk =>
        {
            Assert.Contains(chunk.Source, (string[])["kb", "marketing"]);
            if (chunk.Source == "kb")
            {
                Assert.True(chunk.Label.Rank <= Labels.Get("General").Rank, $"{chunk.Id} is {chunk.Label}");
            }
        });
    }

    [StoreTheory]
    [MemberData(nameof(AllQueries))]
    public async Task Bob_SupportEngineer_SeesOnlyTicketsOfHisAccounts(string query)
    {
        var (_, chunks) = await server.RetrieveAsync("bob", query);
        Assert.All(chunks, chunk =>
        {
            Assert.Contains(chunk.Source, (string[])["kb", "engineering", "support", "marketing"]);
            Assert.True(chunk.Label.Rank <= Labels.Get("Confidential").Rank);
            if (chunk.Source == "support")
            {
                Assert.Contains(Account(chunk), (string[])["contoso-retail", "fabrikam"]);
            }

            if (chunk.Source == "marketing")
            {
                Assert.Equal("Public", chunk.Label.Name);
            }
        });
    }

    [StoreFact]
    public async Task Bob_PosOutageQuery_FindsHisCustomersTicket()
    {
        var (_, chunks) = await server.RetrieveAsync("bob", "POS terminals drop offline during peak hours", top: 5);
        Assert.Contains(chunks, chunk => chunk.DocumentId == "support-ticket-4812");
    }

    [StoreFact]
    public async Task Bob_QueryAboutAnotherAccountsTicket_GetsNoneOfIt()
    {
        foreach (var ticket in (string[])["support-ticket-4803", "support-ticket-4804", "support-ticket-4805"])
        {
            var stored = await server.Runtime.Store.GetAsync(ticket + "#0", CancellationToken.None);
            Assert.NotNull(stored);
            var (_, chunks) = await server.RetrieveAsync("bob", stored.Text[..Math.Min(300, stored.Text.Length)]);
            Assert.DoesNotContain(chunks, chunk => chunk.DocumentId == ticket);
        }
    }

    [StoreTheory]
    [MemberData(nameof(AllQueries))]
    public async Task Dana_Clinician_SeesOnlyHerPatients(string query)
    {
        var (_, chunks) = await server.RetrieveAsync("dana", query);
        Assert.All(chunks, chunk =>
        {
            if (chunk.Source == "clinical")
            {
                Assert.Contains(Single(chunk, "patient"), (string[])["p-1001", "p-1002"]);
            }
            else
            {
                AssertOpenToEveryone(chunk);
            }
        });
    }

    [StoreFact]
    public async Task Dana_AsthmaQuery_FindsHerPatientsNote_ButNeverSendsItExternally()
    {
        var (_, internalChunks) = await server.RetrieveAsync("dana", "asthma flare-up follow-up", top: 5);
        Assert.Contains(internalChunks, chunk => chunk.Source == "clinical" && Single(chunk, "patient") == "p-1002");

        var (_, externalChunks) = await server.RetrieveAsync("dana", "asthma flare-up follow-up", destination: "openai-gpt", top: 50);
        Assert.DoesNotContain(externalChunks, chunk => chunk.Source == "clinical");
    }

    [StoreTheory]
    [InlineData("alice")]
    [InlineData("paul")]
    [InlineData("bob")]
    [InlineData("erin")]
    [InlineData("dana")]
    public async Task AnyCaller_UndeclaredOrExternalDestination_GetsNothingAboveGeneral(string user)
    {
        foreach (var query in Queries.Take(6))
        {
            var (_, undeclared) = await server.RetrieveAsync(user, query, destination: null);
            var (_, external) = await server.RetrieveAsync(user, query, destination: "external-vendor");
            Assert.All(undeclared.Concat(external), chunk => Assert.True(chunk.Label.Rank <= Labels.Get("General").Rank, $"{user}: {chunk.Id} is {chunk.Label}"));
        }
    }

    [StoreFact]
    public async Task Alice_HrPartner_SeesHrAndSalaryBandsButNoIndividualSalaries()
    {
        var (_, chunks) = await server.RetrieveAsync("alice", "annual base salary of the payroll specialist", top: 10);
        Assert.Contains(chunks, chunk => chunk.Source == "payroll");
        Assert.DoesNotContain(chunks, chunk => chunk.Source is "clinical" or "transactions" or "support");
        foreach (var row in chunks.Where(static c => c.Source == "payroll"))
        {
            var released = server.Released[row.Id];
            var salary = row.Fields!["salary"].GetDouble();
            var band = released.GetProperty("fields").GetProperty("salary").GetString();
            var low = Math.Floor(salary / 10000) * 10000;
            Assert.Equal($"{low:N0}–{low + 10000:N0}", band);
            Assert.DoesNotContain(row.Fields["salary"].GetRawText(), released.GetProperty("text").GetString(), StringComparison.Ordinal);
            Assert.Contains(band!, released.GetProperty("text").GetString(), StringComparison.Ordinal);
        }
    }

    [StoreFact]
    public async Task Paul_Payroll_SeesPayrollRows()
    {
        var (_, chunks) = await server.RetrieveAsync("paul", "annual base salary of the payroll specialist", top: 10);
        Assert.Contains(chunks, chunk => chunk.Source == "payroll" && chunk.Fields is not null);
        Assert.All(chunks, chunk =>
        {
            if (chunk.Source != "payroll")
            {
                AssertOpenToEveryone(chunk);
            }
        });
    }

    [StoreFact]
    public async Task Erin_FraudAnalyst_SeesTransactions()
    {
        var (_, chunks) = await server.RetrieveAsync("erin", "suspicious card transactions abroad", top: 10);
        Assert.Contains(chunks, chunk => chunk.Source == "transactions");
        Assert.All(chunks, chunk =>
        {
            if (chunk.Source != "transactions")
            {
                AssertOpenToEveryone(chunk);
            }
        });
    }

    [StoreFact]
    public async Task TicketAgent_ActingForBobOrCarol_GetsTheIntersection()
    {
        const string query = "refund approval thresholds and escalation runbook";
        var (_, forBob) = await server.RetrieveAsync("bob", query, agent: "ticket-agent");
        var (_, forCarol) = await server.RetrieveAsync("carol", query, agent: "ticket-agent");

        Assert.All(forBob.Concat(forCarol), chunk => Assert.Equal("kb", chunk.Source));
        Assert.Contains(forBob, chunk => chunk.Label.Name == "Confidential");
        Assert.All(forCarol, chunk => Assert.True(chunk.Label.Rank <= Labels.Get("General").Rank));
        Assert.NotEqual(forBob.Select(static c => c.Id), forCarol.Select(static c => c.Id));
    }

    [StoreFact]
    public async Task EveryPerson_ReturnedChunks_AreAllowedByTheReferenceOracle()
    {
        foreach (var user in (string[])["alice", "paul", "bob", "carol", "dana", "erin", "cora", "frank"])
        {
            var caller = await server.Runtime.Broker.ResolveCallerAsync(new CopilotGuard.Identity.CallerIdentity(user), CancellationToken.None);
            var request = RetrievalBroker.RequestAttributes(null, "internal");
            foreach (var query in Queries)
            {
                var (_, chunks) = await server.RetrieveAsync(user, query);
                Assert.All(chunks, chunk => Assert.True(
                    CopilotGuard.Testing.PolicyOracle.Allows(server.Runtime.Policy, caller, request, chunk.ResourceAttributes),
                    $"{user} got {chunk.Id}"));
            }
        }
    }

    /// <summary>Knowledge-base articles up to General and Public marketing material are open to every employee.</summary>
    private static void AssertOpenToEveryone(Chunk chunk)
    {
        Assert.True(
            (chunk.Source == "kb" && chunk.Label.Rank <= Labels.Get("General").Rank) || (chunk.Source == "marketing" && chunk.Label.Name == "Public"),
            $"{chunk.Id} ({chunk.Source}, {chunk.Label}) is not open to everyone");
    }

    private static string Account(Chunk chunk) => Single(chunk, "account");

    private static string Single(Chunk chunk, string attribute)
    {
        Assert.True(chunk.Attributes.TryGet(attribute, out var values), $"{chunk.Id} has no {attribute}");
        return Assert.Single(values).Text;
    }

    /// <summary>Runs these scenarios on the embedded SQLite store and audit log.</summary>
    [Collection(ServerCollection.Name)]
    public sealed class OnSqlite(ServerFixture server) : ScenarioTests(server);

    /// <summary>Runs these scenarios with the store and audit log in PostgreSQL.</summary>
    [Collection(PostgreSqlServerCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServerFixture server) : ScenarioTests(server);
}
