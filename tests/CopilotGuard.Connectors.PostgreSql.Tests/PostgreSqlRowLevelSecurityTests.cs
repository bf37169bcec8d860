using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using Npgsql;

namespace CopilotGuard.Connectors.PostgreSql.Tests;

/// <summary>Row-level security as a second line of defence: with the shipped Contoso SQL policy, a search whose pushed
/// filter is broken (<c>true</c>) returns exactly what the engine's reference evaluator allows, for every sample caller.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlRowLevelSecurityTests(PostgresServer server) : IAsyncLifetime
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private static readonly string[] Sources = ["kb", "hr", "payroll", "engineering", "support", "marketing", "clinical", "transactions"];
    private readonly string _schema = server.NewSchema();
    private readonly List<NpgsqlDataSource> _dataSources = [];
    private List<Chunk> _corpus = [];

    public async Task InitializeAsync()
    {
        if (PostgresServer.SkipReason is not null)
        {
            return;
        }

        var options = Options();
        var owner = new PostgreSqlChunkStore(server.DataSource, Labels, options);
        await owner.InitializeAsync(CancellationToken.None);
        await using (var connection = await server.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using (var path = new NpgsqlCommand($"SET LOCAL search_path = {_schema}", connection, transaction))
            {
                await path.ExecuteNonQueryAsync();
            }

            await using (var script = new NpgsqlCommand(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "RowLevelSecurity", "contoso.sql")), connection, transaction))
            {
                await script.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
        }

        // Ingestion runs as the ingest role, under its own policy, which checks the script's grants.
        _corpus = Corpus();
        var ingest = new PostgreSqlChunkStore(DataSourceFor("copilotguard_ingest"), Labels, options);
        await ingest.UpsertAsync([.. _corpus.Select(static c => new StoredChunk(c, new float[] { 1, c.Id.Length % 7 }))], CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        foreach (var dataSource in _dataSources)
        {
            await dataSource.DisposeAsync();
        }
    }

    [PostgresFact]
    public async Task SearchAsync_BrokenPushedFilter_ReturnsExactlyWhatThePolicyAllowsForEveryCaller()
    {
        var bundle = new PolicyLoader(Labels).Load([("contoso.yaml", await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "contoso.yaml")))]);
        var directory = DirectoryFile.Parse("directory.yaml", await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "directory.yaml")), Labels);
        var reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());
        var people = directory.Principals.Where(static p => p.Kind == PrincipalKind.User).ToList();
        var agent = directory.Principals.Single(static p => p.Id == "ticket-agent");
        var callers = people.Select(static p => new CallerPrincipals(p))
            .Append(new CallerPrincipals(agent))
            .Concat(people.Select(p => new CallerPrincipals(p, agent)))
            .ToList();

        var checkedCases = 0;
        var filtered = 0;
        foreach (var caller in callers)
        {
            foreach (var destination in (string?[])["internal", "openai", null])
            {
                var request = RetrievalBroker.RequestAttributes("support", destination);
                var expected = _corpus.Where(c => PolicyOracle.Allows(bundle, caller, request, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();

                var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000), new PostgreSqlCaller(caller, request), CancellationToken.None);

                var actual = result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal).ToList();
                Assert.True(expected.SequenceEqual(actual), $"{caller.Subject.Id}{(caller.Actor is null ? string.Empty : " via " + caller.Actor.Id)} to {destination ?? "(undeclared)"}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
                checkedCases++;
                filtered += expected.Count < _corpus.Count ? 1 : 0;
            }
        }

        // The comparison means something only if the policy both grants and withholds rows across the callers.
        Assert.Equal(checkedCases, filtered);
        Assert.Contains(callers, c => _corpus.Any(chunk => PolicyOracle.Allows(bundle, c, RetrievalBroker.RequestAttributes(null, "internal"), chunk.ResourceAttributes)));
    }

    /// <summary>Property: random principals (hostile values, missing attributes, agents, delegation) and destinations;
    /// the rows the database returns under a broken filter are always exactly those the reference evaluator allows.</summary>
    [PostgresFact]
    public async Task SearchAsync_RandomCallers_ReturnExactlyWhatThePolicyAllows()
    {
        var bundle = new PolicyLoader(Labels).Load([("contoso.yaml", await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "contoso.yaml")))]);
        var reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());
        var random = new Random(20261128);
        string[] hostile = ["' OR '1'='1", "\"]}", "northwind\u0000", "Support ", "support", "kb\"", "🙂", "$1", "%", "p-1001'--"];
        string[] departments = ["Support", "HR", "Engineering", "Marketing", "Finance", .. hostile];
        string[] roles = ["payroll", "hr-partner", "support-engineer", "clinician", "fraud-analyst", .. hostile];
        string[] accounts = ["contoso-retail", "northwind", "fabrikam", .. hostile];
        string[] patients = ["p-1001", "p-1003", .. hostile];
        string[] sources = [.. Sources, .. hostile];
        var granted = 0;
        for (var i = 0; i < 300; i++)
        {
            var subject = RandomPrincipal(random, $"user{i}", random.Next(5) == 0 ? PrincipalKind.Agent : PrincipalKind.User, departments, roles, accounts, patients, sources);
            var actor = random.Next(3) == 0 ? RandomPrincipal(random, $"agent{i}", PrincipalKind.Agent, departments, roles, accounts, patients, sources) : null;
            var caller = new CallerPrincipals(subject, actor);
            var request = RetrievalBroker.RequestAttributes(random.Next(2) == 0 ? "support" : null, ((string?[])["internal", "internal", "openai", null, "Internal"])[random.Next(5)]);
            var expected = _corpus.Where(c => PolicyOracle.Allows(bundle, caller, request, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();
            var query = new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000);
            if (HasNul(subject) || (actor is not null && HasNul(actor)))
            {
                // jsonb cannot hold U+0000: such a caller gets an error, never rows.
                await Assert.ThrowsAsync<ArgumentException>(() => reader.SearchAsync(query, new PostgreSqlCaller(caller, request), CancellationToken.None));
                continue;
            }

            var result = await reader.SearchAsync(query, new PostgreSqlCaller(caller, request), CancellationToken.None);

            var actual = result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal).ToList();
            Assert.True(expected.SequenceEqual(actual), $"case {i} ({new PostgreSqlCaller(caller, request).ToJson()}): expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
            granted += expected.Count > 0 ? 1 : 0;
        }

        Assert.InRange(granted, 30, 270);
    }

    /// <summary>The broker calls <see cref="IChunkStore.SearchAsync(ChunkQuery, CancellationToken)"/> with the caller
    /// and request attributes on the query: with a broken pushed filter the policy still decides every row.</summary>
    [PostgresFact]
    public async Task SearchAsync_BrokerStyleQueryCarryingTheCaller_ReturnsExactlyWhatThePolicyAllows()
    {
        var (bundle, callers) = await LoadCallersAsync();
        IChunkStore reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());

        var filtered = 0;
        var granted = 0;
        foreach (var caller in callers)
        {
            foreach (var destination in (string?[])["internal", "openai"])
            {
                var request = RetrievalBroker.RequestAttributes(null, destination);
                var expected = _corpus.Where(c => PolicyOracle.Allows(bundle, caller, request, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();

                var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000) { Caller = caller, RequestAttributes = request }, CancellationToken.None);

                var actual = result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal).ToList();
                Assert.True(expected.SequenceEqual(actual), $"{caller.Subject.Id}{(caller.Actor is null ? string.Empty : " via " + caller.Actor.Id)} to {destination}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
                filtered += expected.Count < _corpus.Count ? 1 : 0;
                granted += expected.Count > 0 ? 1 : 0;
            }
        }

        Assert.Equal(callers.Count * 2, filtered);
        Assert.True(granted > 0);
    }

    /// <summary>End to end through the real broker: with row-level security on, a broker that did not put the caller on
    /// the query would get no rows at all (fail closed); it gets exactly what the policy allows.</summary>
    [PostgresFact]
    public async Task RetrieveAsync_TheBrokerPutsTheCallerOnTheQuery_SoTheDatabasePolicySeesIt()
    {
        var (bundle, _) = await LoadCallersAsync();
        var directory = DirectoryFile.Parse("directory.yaml", await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "directory.yaml")), Labels);
        var reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());
        var broker = new RetrievalBroker(directory, bundle, reader, new DeterministicEmbedder(), new InMemoryAuditLog(), new CopilotGuard.Audit.QueryHasher(new byte[32]), destinations: CopilotGuard.Testing.TestDestinations.Standard(bundle.Labels));
        var request = RetrievalBroker.RequestAttributes(null, "internal");

        var granted = 0;
        foreach (var user in directory.Principals.Where(static p => p.Kind == PrincipalKind.User))
        {
            var expected = _corpus.Where(c => PolicyOracle.Allows(bundle, new CallerPrincipals(user), request, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();

            var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity(user.Id), Query = "anything", Top = 50, Destination = "internal" }, CancellationToken.None);

            Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal));
            granted += expected.Count > 0 ? 1 : 0;
        }

        Assert.True(granted > 0);
    }

    [PostgresFact]
    public async Task SearchAsync_QueryCallerWithoutRequestAttributes_IsReadAsNoAttributes()
    {
        var (bundle, callers) = await LoadCallersAsync();
        IChunkStore reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());
        var caller = callers.First(c => c.Actor is null && _corpus.Any(chunk => chunk.Label.Rank >= 2 && PolicyOracle.Allows(bundle, c, RetrievalBroker.RequestAttributes(null, "internal"), chunk.ResourceAttributes)));
        var expected = _corpus.Where(c => PolicyOracle.Allows(bundle, caller, AttributeSet.Empty, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();

        var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000) { Caller = caller }, CancellationToken.None);

        // No declared destination is not "internal": the external ceiling applies, as in the engine.
        Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal));
        Assert.All(result.Chunks, static c => Assert.True(c.Chunk.Label.Rank < 2, c.Chunk.Id));
    }

    [PostgresFact]
    public async Task SetDocumentLabel_AsIngestRole_ThePolicyReadsTheNewLabelOnTheNextSearch()
    {
        var (bundle, callers) = await LoadCallersAsync();
        var ingest = new PostgreSqlChunkStore(DataSourceFor("copilotguard_ingest"), Labels, Options());
        IChunkStore reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());
        var request = RetrievalBroker.RequestAttributes(null, "internal");
        var target = _corpus.Single(static c => c.Id == "kb-1-0");
        var everyone = callers.Where(c => PolicyOracle.Allows(bundle, c, request, target.ResourceAttributes)).ToList();
        Assert.NotEmpty(everyone);

        Assert.Equal(1, await ingest.SetDocumentLabelAsync(target.DocumentId, Labels.Get("Highly Confidential"), CancellationToken.None));

        var relabelled = _corpus.Select(c => c.Id == target.Id ? c with { Label = Labels.Get("Highly Confidential") } : c).ToList();
        var lost = 0;
        foreach (var caller in callers)
        {
            var expected = relabelled.Where(c => PolicyOracle.Allows(bundle, caller, request, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();
            var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000) { Caller = caller, RequestAttributes = request }, CancellationToken.None);
            Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal));
            lost += everyone.Contains(caller) && !expected.Contains(target.Id) ? 1 : 0;
        }

        Assert.True(lost > 0, "the relabel should have withdrawn the chunk from someone");
    }

    [Fact]
    public void ToJson_DelegatedCaller_ListsBothPrincipalsWithLabelsAsRanks()
    {
        var user = new Principal("bob", PrincipalKind.User, new AttributeSetBuilder().Add("accounts", "a\"b").Add("clearance", AttributeValue.FromLabel("Confidential", 2)).Add("active", AttributeValue.FromBoolean(true)).Build());
        var agent = new Principal("ticket-agent", PrincipalKind.Agent, new AttributeSetBuilder().Add("sources", "kb").Build());

        using var json = System.Text.Json.JsonDocument.Parse(new PostgreSqlCaller(new CallerPrincipals(user, agent), new AttributeSetBuilder().Add("destination", "internal").Build()).ToJson());

        var principals = json.RootElement.GetProperty("principals");
        Assert.Equal(["bob", "ticket-agent"], principals.EnumerateArray().Select(static p => p.GetProperty("id").GetString()));
        Assert.Equal(["user", "agent"], principals.EnumerateArray().Select(static p => p.GetProperty("kind").GetString()));
        var attributes = principals[0].GetProperty("attributes");
        Assert.Equal("a\"b", attributes.GetProperty("accounts")[0].GetString());
        Assert.Equal(2, attributes.GetProperty("clearance")[0].GetDouble());
        Assert.True(attributes.GetProperty("active")[0].GetBoolean());
        Assert.Equal("internal", json.RootElement.GetProperty("request").GetProperty("destination")[0].GetString());
    }

    /// <summary>The policy compares <c>resource.account in principal.accounts</c> with typed values: a number never
    /// matches a string, and an empty list holds no value (its marker row is no account ""), so neither may grant.
    /// The SQL policy compares accounts as strings only: for string accounts it is exact; a non-string account (which
    /// the principal JSON cannot tell apart from a label or timestamp) grants nothing there, narrower than the engine,
    /// never wider.</summary>
    [PostgresFact]
    public async Task SearchAsync_AccountsOfAnotherKindOrEmpty_NeverGrant()
    {
        var (bundle, _) = await LoadCallersAsync();
        var ingest = new PostgreSqlChunkStore(DataSourceFor("copilotguard_ingest"), Labels, Options());
        IChunkStore reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());
        List<Chunk> typed =
        [
            Ticket("typed-number", static b => b.Add("account", AttributeValue.FromNumber(5))),
            Ticket("typed-string", static b => b.Add("account", "5")),
            Ticket("typed-empty", static b => b.Declare("account")),
            Ticket("typed-empty-string", static b => b.Add("account", string.Empty)),
        ];
        await ingest.UpsertAsync([.. typed.Select(static c => new StoredChunk(c, new float[] { 1, 0 }))], CancellationToken.None);
        var request = RetrievalBroker.RequestAttributes(null, "internal");

        var grants = new List<string>();
        foreach (var accounts in (AttributeValue[][])[[AttributeValue.FromString("5")], [AttributeValue.FromNumber(5)], [AttributeValue.FromString(string.Empty)], [AttributeValue.FromBoolean(true)]])
        {
            var builder = new AttributeSetBuilder().Add("roles", "support-engineer").Add("clearance", AttributeValue.FromLabel("Highly Confidential", 3));
            foreach (var account in accounts)
            {
                builder.Add("accounts", account);
            }

            var caller = new CallerPrincipals(new Principal("engineer", PrincipalKind.User, builder.Build()));
            var expected = typed.Where(c => PolicyOracle.Allows(bundle, caller, request, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToList();

            var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000) { Caller = caller, RequestAttributes = request }, CancellationToken.None);

            var actual = result.Chunks.Select(static c => c.Chunk.Id).Where(static id => id.StartsWith("typed-", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            var exact = accounts.All(static a => a.Kind == AttributeKind.String);
            Assert.True(exact ? expected.SequenceEqual(actual) : actual.All(expected.Contains), $"accounts [{string.Join(", ", accounts)}]: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
            grants.AddRange(actual);
        }

        // Only the string "5" grants the string account "5", and "" the account "": no kind mismatch, no empty list
        // (the engine also lets the number 5 grant the number 5, which the SQL policy leaves out).
        Assert.Equal(["typed-empty-string", "typed-string"], grants.Order(StringComparer.Ordinal));

        static Chunk Ticket(string id, Action<AttributeSetBuilder> attributes)
        {
            var builder = new AttributeSetBuilder();
            attributes(builder);
            return new Chunk { Id = id, DocumentId = "doc-" + id, Source = "support", Label = Labels.Get("General"), Text = "ticket " + id, Attributes = builder.Build() };
        }
    }

    [PostgresFact]
    public async Task SearchAsync_NoCaller_SeesNothing()
    {
        var reader = new PostgreSqlChunkStore(DataSourceFor("copilotguard_reader"), Labels, Options());

        var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000), CancellationToken.None);

        Assert.Empty(result.Chunks);
        Assert.Null(await reader.GetAsync(_corpus[0].Id, CancellationToken.None));
    }

    [PostgresFact]
    public async Task SearchAsync_CallerSetting_IsTransactionLocal()
    {
        var dataSource = DataSourceFor("copilotguard_reader", maxPoolSize: 1);
        var reader = new PostgreSqlChunkStore(dataSource, Labels, Options());
        var alice = new Principal("alice", PrincipalKind.User, new AttributeSetBuilder().Add("department", "HR").Add("clearance", AttributeValue.FromLabel("Highly Confidential", 3)).Build());
        var request = RetrievalBroker.RequestAttributes(null, "internal");

        var result = await reader.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000), new PostgreSqlCaller(new CallerPrincipals(alice), request), CancellationToken.None);

        Assert.NotEmpty(result.Chunks);
        Assert.All(result.Chunks, c => Assert.True(c.Chunk.Source is "hr" or "kb" or "marketing", c.Chunk.Id));
        await using var command = dataSource.CreateCommand("SELECT coalesce(current_setting('copilotguard.principal', true), '')");
        Assert.Equal(string.Empty, await command.ExecuteScalarAsync());
    }

    [PostgresFact]
    public async Task SearchAsync_SuperuserBypassesPolicies_SoTheReaderRoleMustNotBeOne()
    {
        // Documents why the broker must connect as a plain role: the owner (a superuser here) sees every row.
        var owner = new PostgreSqlChunkStore(server.DataSource, Labels, Options());

        var result = await owner.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, new ConstantFilter(true), 1000), CancellationToken.None);

        Assert.Equal(_corpus.Count, result.Chunks.Count);
    }

    private static async Task<(PolicyBundle Bundle, List<CallerPrincipals> Callers)> LoadCallersAsync()
    {
        var bundle = new PolicyLoader(Labels).Load([("contoso.yaml", await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "contoso.yaml")))]);
        var directory = DirectoryFile.Parse("directory.yaml", await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "directory.yaml")), Labels);
        var people = directory.Principals.Where(static p => p.Kind == PrincipalKind.User).ToList();
        var agent = directory.Principals.Single(static p => p.Id == "ticket-agent");
        return (bundle, [.. people.Select(static p => new CallerPrincipals(p)), new CallerPrincipals(agent), .. people.Select(p => new CallerPrincipals(p, agent))]);
    }

    private static bool HasNul(Principal principal) =>
        principal.Attributes.Any(static a => a.Value.Any(static v => v.Text.Contains('\0', StringComparison.Ordinal)));

    private static Principal RandomPrincipal(Random random, string id, PrincipalKind kind, string[] departments, string[] roles, string[] accounts, string[] patients, string[] sources)
    {
        var builder = new AttributeSetBuilder();
        Maybe("department", departments, 1);
        Maybe("roles", roles, 2);
        Maybe("accounts", accounts, 3);
        Maybe("patients", patients, 2);
        Maybe("sources", sources, 3);
        if (random.Next(6) != 0)
        {
            var label = Labels.Labels[random.Next(Labels.Labels.Length)];
            builder.Add("clearance", AttributeValue.FromLabel(label.Name, label.Rank));
        }

        return new Principal(id, kind, builder.Build());

        void Maybe(string name, string[] pool, int most)
        {
            if (random.Next(3) != 0)
            {
                foreach (var value in pool.OrderBy(_ => random.Next()).Take(random.Next(1, most + 1)))
                {
                    builder.Add(name, value);
                }
            }
        }
    }

    private PostgreSqlChunkStoreOptions Options() => new() { Schema = _schema, RowLevelSecurity = true, VectorSearch = PostgreSqlVectorSearch.InProcess };

    private NpgsqlDataSource DataSourceFor(string role, int maxPoolSize = 5)
    {
        var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(server.ConnectionString) { Username = role, MaxPoolSize = maxPoolSize }.ToString());
        _dataSources.Add(dataSource);
        return dataSource;
    }

    /// <summary>Every source at every label, support tickets over assigned and unassigned accounts, clinical notes over
    /// patients under and not under care, and chunks missing the attribute a rule reads.</summary>
    private static List<Chunk> Corpus()
    {
        var chunks = new List<Chunk>();
        foreach (var source in Sources)
        {
            foreach (var label in Labels.Labels)
            {
                string?[][] variants = source switch
                {
                    "support" => [["contoso-retail"], ["northwind"], ["northwind", "fabrikam"], []],
                    "clinical" => [["p-1001"], ["p-1003"], []],
                    _ => [[]],
                };
                for (var v = 0; v < variants.Length; v++)
                {
                    var builder = new AttributeSetBuilder();
                    foreach (var value in variants[v])
                    {
                        builder.Add(source == "clinical" ? "patient" : "account", value!);
                    }

                    var id = $"{source}-{label.Rank}-{v}";
                    chunks.Add(new Chunk { Id = id, DocumentId = "doc-" + id, Source = source, Label = label, Text = "text " + id, Attributes = builder.Build() });
                }
            }
        }

        return chunks;
    }
}
