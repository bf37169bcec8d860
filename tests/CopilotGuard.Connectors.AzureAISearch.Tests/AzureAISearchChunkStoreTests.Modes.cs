using System.Text;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

// Keyword and hybrid queries: the exact requests the store sends, and query text that never changes the filter.
public sealed partial class AzureAISearchChunkStoreTests
{
    private const string Select = "id,documentId,source,label,labelRank,version,title,text,subjects,fields,rowSchema,attributes";

    private static readonly FilterNode Policy = new AndFilter([
        new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, AttributeValue.FromLabel("General", 1)),
        new ComparisonFilter("account", ComparisonOperator.Equal, AttributeValue.FromString("O'Brien")),
    ]);

    private const string PolicyOData = "(labelRank le 1 and attributes/any(a: a/name eq 'account' and a/kind eq 0 and a/text eq 'O''Brien'))";

    [Fact]
    public void SupportedModes_AreVectorKeywordAndHybrid()
    {
        Assert.Equal([RetrievalMode.Vector, RetrievalMode.Keyword, RetrievalMode.Hybrid], RetrievalModes.All.Where(CreateStore().SupportedModes.Contains));
    }

    [Fact]
    public async Task Search_Keyword_SendsSearchTextSimpleSyntaxFilterSelectAndTop_AndNoVectorQuery()
    {
        var store = await CreateInitializedAsync();

        var result = await store.SearchAsync(new ChunkQuery(ReadOnlyMemory<float>.Empty, Policy, Top: 3, Skip: 2) { Mode = RetrievalMode.Keyword, Text = "reset POS terminal" }, CancellationToken.None);

        AssertJson(
            $$"""{"search":"reset POS terminal","filter":"{{PolicyOData}}","queryType":"simple","searchFields":"title,text","searchMode":"any","select":"{{Select}}","top":6}""",
            Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json);
        Assert.Equal(PolicyOData, result.NativeFilter);
    }

    [Fact]
    public async Task Search_Hybrid_SendsSearchTextAndVectorQueryWithPreFilter()
    {
        var store = await CreateInitializedAsync(new AzureAISearchChunkStoreOptions { IndexName = "chunks", Dimensions = 4, ExhaustiveQueries = true });

        var result = await store.SearchAsync(new ChunkQuery(new float[] { 0.5f, 0, 0, 1 }, Policy, Top: 3, Skip: 2) { Mode = RetrievalMode.Hybrid, Text = "reset POS terminal" }, CancellationToken.None);

        AssertJson(
            $$"""
            {"search":"reset POS terminal","filter":"{{PolicyOData}}","queryType":"simple","searchFields":"title,text","searchMode":"any","select":"{{Select}}","top":6,
             "vectorQueries":[{"kind":"vector","k":6,"fields":"embedding","exhaustive":true,"vector":[0.5,0,0,1]}],"vectorFilterMode":"preFilter"}
            """,
            Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json);
        Assert.Equal(PolicyOData, result.NativeFilter);
    }

    [Fact]
    public async Task Search_VectorModeWithText_SendsNoSearchText()
    {
        var store = await CreateInitializedAsync();

        await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, FilterNode.True, Top: 1) { Text = "ignored in vector mode" }, CancellationToken.None);

        var search = Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json;
        Assert.Null(search["search"]);
        Assert.Null(search["queryType"]);
        Assert.Null(search["searchFields"]);
        Assert.EndsWith(",embedding", search["select"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(RetrievalMode.Keyword, null)]
    [InlineData(RetrievalMode.Keyword, "   ")]
    [InlineData(RetrievalMode.Hybrid, "")]
    public async Task Search_TextModeWithoutText_ThrowsAndSendsNothing(RetrievalMode mode, string? text)
    {
        var store = await CreateInitializedAsync();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, FilterNode.True, Top: 1) { Mode = mode, Text = text }, CancellationToken.None));

        Assert.Contains("needs query text", error.Message, StringComparison.Ordinal);
        Assert.Empty(_service.RequestsTo("/docs/search.post.search"));
    }

    [Fact]
    public async Task Search_UnknownMode_ThrowsAndSendsNothing()
    {
        var store = await CreateInitializedAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, FilterNode.True, Top: 1) { Mode = (RetrievalMode)42, Text = "x" }, CancellationToken.None));

        Assert.Empty(_service.RequestsTo("/docs/search.post.search"));
    }

    [Fact]
    public async Task Search_Keyword_ScoresFromSearchScore_OrderedThenPagedInProcess()
    {
        var store = await CreateSeededAsync();

        var all = await store.SearchAsync(new ChunkQuery(ReadOnlyMemory<float>.Empty, Policy, Top: 10) { Mode = RetrievalMode.Keyword, Text = "printer offline" }, CancellationToken.None);
        var second = await store.SearchAsync(new ChunkQuery(ReadOnlyMemory<float>.Empty, Policy, Top: 1, Skip: 1) { Mode = RetrievalMode.Keyword, Text = "printer offline" }, CancellationToken.None);

        // k1: "printer offline printer" (3 hits), k2 and k3: one hit each (tie broken by id); k4 has no term, and the
        // denied chunk, which holds both terms, is filtered out.
        Assert.Equal([("k1", 3.0), ("k2", 1.0), ("k3", 1.0)], all.Chunks.Select(static c => (c.Chunk.Id, c.Score)));
        Assert.True(all.Exhausted);
        Assert.Equal("k2", Assert.Single(second.Chunks).Chunk.Id);
        Assert.False(second.Exhausted);
        var responses = _service.RequestsTo("/docs/search.post.search");
        Assert.Equal(3, responses[^1].Json["top"]!.GetValue<int>());
        Assert.Null(responses[^1].Json["skip"]);
    }

    [Fact]
    public async Task Search_Hybrid_ScoresAreTheServicesFusedScores()
    {
        var store = await CreateSeededAsync();

        var result = await store.SearchAsync(new ChunkQuery(new float[] { 0, 0, 0, 1 }, Policy, Top: 10) { Mode = RetrievalMode.Hybrid, Text = "printer offline" }, CancellationToken.None);

        // Vector ranking (k4 nearest, then the others by key) fused with the keyword ranking k1, k2, k3: 1/(60+rank).
        static double Rrf(params int[] ranks) => ranks.Sum(static r => 1.0 / (60 + r));
        Assert.Equal(
            [("k1", Rrf(2, 1)), ("k2", Rrf(3, 2)), ("k3", Rrf(4, 3)), ("k4", Rrf(1))],
            result.Chunks.Select(static c => (c.Chunk.Id, c.Score)));
        Assert.True(result.Exhausted);
    }

    public static TheoryData<string, RetrievalMode> HostileTexts()
    {
        string[] texts =
        [
            "O'Brien",
            "' or true or '",
            "') or (labelRank ge 0",
            "\" OR 1=1 --",
            "account:O'Brien AND label:Highly*",
            "+secret -public | payroll* \"exact phrase\" ~2 ^3 (nested (group))",
            "title:salary OR text:/.*/ AND NOT [a TO z] {b TO y} && || !",
            "$filter=true&search=*",
            "search.in(a/text, 'x', '|')",
            "\\\\ \\\" \\u0027 %27 &#39;",
            "日本語 ünïcødé e\u0301 🙂 \u200B\u202E",
            "a\0b\r\n\tc",
            new string('x', 10_000),
            string.Concat(Enumerable.Repeat("'\" ", 3_334)),
        ];
        var data = new TheoryData<string, RetrievalMode>();
        foreach (var text in texts)
        {
            data.Add(text, RetrievalMode.Keyword);
            data.Add(text, RetrievalMode.Hybrid);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(HostileTexts))]
    public async Task Search_HostileQueryText_IsSentAsDataAndNeverChangesTheFilter(string text, RetrievalMode mode)
    {
        var store = await CreateSeededAsync(withHostileText: text);

        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, Policy, Top: 10) { Mode = mode, Text = text }, CancellationToken.None);

        var search = Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json;
        Assert.Equal(text, search["search"]!.GetValue<string>());
        Assert.Equal(PolicyOData, search["filter"]!.GetValue<string>());
        Assert.Equal(store.DescribeFilter(Policy), result.NativeFilter);
        Assert.Equal("simple", search["queryType"]!.GetValue<string>());
        Assert.Equal("title,text", search["searchFields"]!.GetValue<string>());
        Assert.All(result.Chunks, c => Assert.True(FilterEvaluator.Matches(Policy, c.Chunk.ResourceAttributes), c.Chunk.Id));
        Assert.DoesNotContain(result.Chunks, static c => c.Chunk.Id == "denied");
    }

    [Fact]
    public async Task Search_RandomHostileTexts_FilterIsAlwaysTheCompiledPolicy()
    {
        // Property: for any query text, the request's filter is exactly the compiled policy and the text travels
        // unchanged in "search"; what comes back always satisfies the policy.
        // Whole text elements (an emoji is two UTF-16 units), so every generated text is valid Unicode.
        string[] alphabet = [.. "abcXYZ019 '\"\\/()[]{}<>:;,.!?*~^+-|&=$%#@`\0\n\t日本é\u0301\u202E".Select(static c => c.ToString()), "🙂", "AND", "OR", "NOT", "eq", "search.in("];
        var store = await CreateSeededAsync();
        var random = new Random(80808);
        for (var i = 0; i < 150; i++)
        {
            var builder = new StringBuilder();
            var length = random.Next(1, 200);
            while (builder.Length < length)
            {
                builder.Append(alphabet[random.Next(alphabet.Length)]);
            }

            var text = builder.ToString();
            var mode = i % 2 == 0 ? RetrievalMode.Keyword : RetrievalMode.Hybrid;
            var before = _service.Requests.Count;

            var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, Policy, Top: 5) { Mode = mode, Text = text }, CancellationToken.None);

            var search = Assert.Single(_service.Requests.Skip(before)).Json;
            Assert.Equal(text, search["search"]!.GetValue<string>());
            Assert.Equal(PolicyOData, search["filter"]!.GetValue<string>());
            Assert.All(result.Chunks, c => Assert.True(FilterEvaluator.Matches(Policy, c.Chunk.ResourceAttributes), c.Chunk.Id));
        }
    }

    public static TheoryData<RetrievalMode> TextModes => [RetrievalMode.Keyword, RetrievalMode.Hybrid];

    [Theory]
    [MemberData(nameof(TextModes))]
    public async Task Search_TextModes_FilterCases_ReturnExactlyTheMatchingChunks(RetrievalMode mode)
    {
        // Every chunk's text holds the query term, so the filter alone decides what comes back.
        var store = await CreateInitializedAsync();
        Chunk[] corpus =
        [
            Chunk("c1", "Public", b => b.Add("account", "contoso").Add("tags", "a")),
            Chunk("c2", "Confidential", b => b.Add("account", "O'Brien")),
            Chunk("c3", "General", b => b.Add("account", "'; DROP TABLE chunks; --").Add("tags", "日本語")),
            Chunk("c4", "General", b => b.Add("tags", "🙂")),
        ];
        await store.UpsertAsync([.. corpus.Select(static (c, i) => new StoredChunk(c, Vector(i)))], CancellationToken.None);
        FilterNode[] filters =
        [
            FilterNode.True,
            Eq("account", "O'Brien"),
            Eq("account", "'; DROP TABLE chunks; --"),
            new NotFilter(Eq("account", "contoso")),
            new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, LabelTaxonomy.Default.Get("General").ToAttributeValue()),
            new InFilter("tags", [.. Enumerable.Range(0, 2000).Select(static i => AttributeValue.FromString($"t-{i}")), AttributeValue.FromString("日本語")]),
            new OrFilter([Eq("tags", "🙂"), new NotFilter(new HasFilter("tags"))]),
        ];

        foreach (var filter in filters)
        {
            var result = await store.SearchAsync(new ChunkQuery(Vector(0), filter, Top: 10) { Mode = mode, Text = "shared" }, CancellationToken.None);

            var expected = corpus.Where(c => FilterEvaluator.Matches(filter, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal);
            Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal));
        }
    }

    private static ComparisonFilter Eq(string attribute, string value) => new(attribute, ComparisonOperator.Equal, AttributeValue.FromString(value));

    private static float[] Vector(int i)
    {
        var vector = new float[4];
        vector[i % 4] = 1;
        return vector;
    }

    /// <summary>Creates a store with four chunks about printers the policy allows (account O'Brien, label General),
    /// and one it denies whose text holds every term of <paramref name="withHostileText"/>.</summary>
    private async Task<AzureAISearchChunkStore> CreateSeededAsync(string? withHostileText = null)
    {
        var store = await CreateInitializedAsync();
        static void Allowed(AttributeSetBuilder b) => b.Add("account", "O'Brien");
        await store.UpsertAsync(
            [
                new StoredChunk(Chunk("k1", "General", Allowed) with { Text = "printer offline printer" }, Vector(0)),
                new StoredChunk(Chunk("k2", "General", Allowed) with { Text = "the printer" }, Vector(1)),
                new StoredChunk(Chunk("k3", "Public", Allowed) with { Text = "went offline" }, Vector(2)),
                new StoredChunk(Chunk("k4", "General", Allowed) with { Text = "unrelated" }, Vector(3)),
                new StoredChunk(Chunk("denied", "Highly Confidential", static b => b.Add("account", "other")) with { Text = $"printer offline {withHostileText}" }, Vector(0)),
            ],
            CancellationToken.None);
        _service.Requests.Clear();
        return store;
    }

    private static Chunk Chunk(string id, string label, Action<AttributeSetBuilder> attributes) =>
        Chunk(id, attributes) with { Label = LabelTaxonomy.Default.Get(label), Text = "shared text of " + id };
}
