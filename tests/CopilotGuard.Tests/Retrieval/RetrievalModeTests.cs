using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using Json.Schema;

namespace CopilotGuard.Tests.Retrieval;

/// <summary>Keyword and hybrid retrievals keep every guarantee of vector retrievals: the same pushed-down filter, the
/// same post-filter re-check, the same paging; keyword retrievals never embed the query; unsupported modes are refused.</summary>
public sealed class RetrievalModeTests
{
    private const string PolicyYaml = """
        apiVersion: copilotguard/v1
        version: "1"
        rules:
          - id: kb-for-everyone
            effect: allow
            when: resource.source == "kb"
        """;

    private static readonly PolicyBundle Policy = new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", PolicyYaml)]);

    private readonly InMemoryAuditLog _audit = new();
    private readonly DeterministicEmbedder _embedder = new();

    public static TheoryData<RetrievalMode> AllModes => [RetrievalMode.Vector, RetrievalMode.Keyword, RetrievalMode.Hybrid];

    [Theory]
    [MemberData(nameof(AllModes))]
    public async Task RetrieveAsync_StoreReturnsADeniedChunk_PostFilterDropsItInEveryMode(RetrievalMode mode)
    {
        // The store ignores the pushed filter (a store bug or a stale index): the broker's re-check must still drop hr.
        var store = new LeakyStore(Chunk("a-kb", "kb"), Chunk("b-hr", "hr"), Chunk("c-kb", "kb"));
        var broker = CreateBroker(store);

        var result = await broker.RetrieveAsync(Request("payroll of everyone", mode, top: 5), CancellationToken.None);

        Assert.Equal(["a-kb", "c-kb"], result.Chunks.Select(static c => c.Chunk.Id));
        Assert.Equal(["b-hr"], result.Record.PostFilterDrops.ToArray());
        Assert.True(result.Record.PushdownExact);
        var query = Assert.Single(store.Queries);
        Assert.Equal(mode, query.Mode);
        Assert.Equal("payroll of everyone", query.Text);
        Assert.True(FilterEvaluator.Matches(query.Filter, Chunk("x", "kb").ResourceAttributes));
        Assert.False(FilterEvaluator.Matches(query.Filter, Chunk("x", "hr").ResourceAttributes));
        Assert.Equal(mode == RetrievalMode.Vector ? null : RetrievalModes.Name(mode), result.Record.Mode);
        Assert.Equal(result.ReceiptId, Assert.Single(_audit.Entries).Record.RecordId);
    }

    [Fact]
    public async Task RetrieveAsync_EveryMode_PushesTheSameFilterToTheStore()
    {
        var filters = new List<string>();
        foreach (var mode in RetrievalModes.All)
        {
            var store = new LeakyStore(Chunk("a-kb", "kb"));
            await CreateBroker(store).RetrieveAsync(Request("q", mode), CancellationToken.None);
            filters.Add(FilterFormatter.Format(Assert.Single(store.Queries).Filter));
        }

        Assert.All(filters, filter => Assert.Equal(filters[0], filter));
    }

    [Fact]
    public async Task RetrieveAsync_Keyword_NeverCallsTheEmbedder()
    {
        var store = new LeakyStore(Chunk("a-kb", "kb"));

        var result = await CreateBroker(store).RetrieveAsync(Request("vpn", RetrievalMode.Keyword), CancellationToken.None);

        Assert.Equal(0, _embedder.Calls);
        Assert.True(Assert.Single(store.Queries).Vector.IsEmpty);
        Assert.Equal("a-kb", Assert.Single(result.Chunks).Chunk.Id);
    }

    [Theory]
    [InlineData(RetrievalMode.Vector)]
    [InlineData(RetrievalMode.Hybrid)]
    public async Task RetrieveAsync_VectorAndHybrid_EmbedTheQueryOnce(RetrievalMode mode)
    {
        var store = new LeakyStore(Chunk("a-kb", "kb"));

        await CreateBroker(store).RetrieveAsync(Request("vpn", mode), CancellationToken.None);

        Assert.Equal(1, _embedder.Calls);
        Assert.Equal(DeterministicEmbedder.VectorFor("vpn"), Assert.Single(store.Queries).Vector.ToArray());
    }

    [Theory]
    [InlineData(RetrievalMode.Keyword)]
    [InlineData(RetrievalMode.Hybrid)]
    public async Task RetrieveAsync_ModeTheStoreDoesNotSupport_IsRefusedBeforeTheStoreAndUnaudited(RetrievalMode mode)
    {
        var store = new InMemoryChunkStore();
        await store.UpsertAsync([new StoredChunk(Chunk("a-kb", "kb"), DeterministicEmbedder.VectorFor("x"))], CancellationToken.None);
        var broker = CreateBroker(store);

        var error = await Assert.ThrowsAsync<GuardException>(() => broker.RetrieveAsync(Request("vpn", mode), CancellationToken.None));

        Assert.Equal(GuardErrorKind.InvalidRequest, error.Kind);
        Assert.Equal($"mode '{RetrievalModes.Name(mode)}' is not supported by the memory store, which supports: vector.", error.Message);
        Assert.Empty(store.ReceivedFilters);
        Assert.Equal(0, _embedder.Calls);
        Assert.Empty(_audit.Entries);
    }

    [Fact]
    public async Task RetrieveAsync_UndefinedMode_IsRefusedNamingMode()
    {
        var store = new LeakyStore(Chunk("a-kb", "kb"));

        var error = await Assert.ThrowsAsync<GuardException>(() => CreateBroker(store).RetrieveAsync(Request("vpn", (RetrievalMode)7), CancellationToken.None));

        Assert.Equal(GuardErrorKind.InvalidRequest, error.Kind);
        Assert.Equal("mode must be one of: vector, keyword, hybrid.", error.Message);
        Assert.Empty(store.Queries);
        Assert.Empty(_audit.Entries);
    }

    [Fact]
    public async Task RetrieveAsync_Vector_AuditRecordHasNoModeProperty()
    {
        var result = await CreateBroker(new LeakyStore(Chunk("a-kb", "kb"))).RetrieveAsync(Request("vpn", RetrievalMode.Vector), CancellationToken.None);
        var keyword = await CreateBroker(new LeakyStore(Chunk("a-kb", "kb"))).RetrieveAsync(Request("vpn", RetrievalMode.Keyword), CancellationToken.None);

        Assert.DoesNotContain("\"mode\"", Encoding.UTF8.GetString(AuditJson.Serialize(result.Record)), StringComparison.Ordinal);
        Assert.Contains("\"mode\":\"keyword\"", Encoding.UTF8.GetString(AuditJson.Serialize(keyword.Record)), StringComparison.Ordinal);
        Assert.Equal("keyword", AuditJson.Deserialize(AuditJson.Serialize(keyword.Record)).Mode);
    }

    [Fact]
    public async Task RetrieveAsync_KeywordRecord_MatchesTheAuditSchema_WhichRejectsUnknownModes()
    {
        var record = (await CreateBroker(new LeakyStore(Chunk("a-kb", "kb"))).RetrieveAsync(Request("vpn", RetrievalMode.Keyword), CancellationToken.None)).Record;
        var schema = JsonSchema.FromFile(
            AuditSchemaPath(),
            new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        var json = JsonNode.Parse(AuditJson.Serialize(record))!.AsObject();

        var valid = schema.Evaluate(JsonSerializer.SerializeToElement(json), new EvaluationOptions { RequireFormatValidation = true });
        json["mode"] = "semantic";
        var invalid = schema.Evaluate(JsonSerializer.SerializeToElement(json));

        Assert.True(valid.IsValid);
        Assert.False(invalid.IsValid);
    }

    [Fact]
    public async Task RetrieveAsync_RandomMixesOfAllowedAndDeniedChunks_ReleaseExactlyTheAllowedPrefixInEveryMode()
    {
        // Property: whatever the store returns and in whichever mode, the broker pages until top and releases exactly
        // the first top chunks (in store order) that the policy allows, and records every denied one it saw as a drop.
        var random = new Random(424242);
        for (var i = 0; i < 200; i++)
        {
            var chunks = Enumerable.Range(0, random.Next(0, 60))
                .Select(n => Chunk($"c{n:D3}", random.Next(3) == 0 ? "kb" : "hr"))
                .ToArray();
            var mode = RetrievalModes.All[i % 3];
            var top = random.Next(1, 8);
            var store = new LeakyStore(chunks);

            var result = await CreateBroker(store).RetrieveAsync(Request($"query {i}", mode, top), CancellationToken.None);

            var expected = chunks.Where(static c => c.Source == "kb").Take(top).Select(static c => c.Id);
            Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id));
            var seen = store.Queries.Sum(q => Math.Min(q.Top, Math.Max(0, chunks.Length - q.Skip)));
            Assert.Equal(chunks.Take(seen).Where(static c => c.Source != "kb").Select(static c => c.Id), result.Record.PostFilterDrops);
            Assert.All(store.Queries, q => Assert.Equal((mode, $"query {i}"), (q.Mode, q.Text)));
        }
    }

    /// <summary>Finds the schema above the test binaries or, when they are built elsewhere, above this source file.</summary>
    private static string AuditSchemaPath([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in (string[])[AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "."])
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, "schemas", "audit-record.schema.json");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new FileNotFoundException("schemas/audit-record.schema.json was not found above the test binaries or sources.");
    }

    private RetrievalBroker CreateBroker(IChunkStore store) =>
        new(new Directory(), Policy, store, _embedder, _audit, new QueryHasher(new byte[32]));

    private static RetrievalRequest Request(string query, RetrievalMode mode, int top = 5) =>
        new() { Caller = new CallerIdentity("u1"), Query = query, Mode = mode, Top = top, Destination = "internal" };

    private static Chunk Chunk(string id, string source) =>
        new() { Id = id, DocumentId = "d-" + id, Source = source, Label = LabelTaxonomy.Default.Get("General"), Text = "text of " + id };

    /// <summary>A store that supports every mode, records each query, and ignores the filter: it returns its chunks in
    /// insertion order, paged by skip and top.</summary>
    private sealed class LeakyStore(params Chunk[] initial) : IChunkStore
    {
        private readonly List<Chunk> _chunks = [.. initial];

        public List<ChunkQuery> Queries { get; } = [];

        public string Name => "leaky";

        public FilterCapabilities Capabilities => FilterCapabilities.All;

        public IReadOnlySet<RetrievalMode> SupportedModes { get; } = RetrievalModes.All.ToFrozenSet();

        public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
        {
            foreach (var (chunk, _) in chunks)
            {
                _chunks.RemoveAll(c => c.Id == chunk.Id);
                _chunks.Add(chunk);
            }

            return Task.CompletedTask;
        }

        public Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
        {
            Queries.Add(query);
            var page = _chunks.Skip(query.Skip).Take(query.Top).Select(static (c, i) => new ScoredChunk(c, 1.0 / (i + 1))).ToList();
            return Task.FromResult(new ChunkSearchResult(page, "ignored", _chunks.Count <= query.Skip + query.Top));
        }

        public Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken) => Task.FromResult(_chunks.FirstOrDefault(c => c.Id == chunkId));

        public Task<long> CountAsync(CancellationToken cancellationToken) => Task.FromResult((long)_chunks.Count);

        public string DescribeFilter(FilterNode filter) => FilterFormatter.Format(filter);
    }

    private sealed class Directory : IEntitlementProvider
    {
        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(principalId == "u1" ? new Principal("u1", PrincipalKind.User, AttributeSet.Empty) : null);
    }
}
