using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

// Listing and relabelling one document: the exact requests, and what the next search sees.
public sealed partial class AzureAISearchChunkStoreTests
{
    private static readonly FilterNode UpToGeneral = new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, AttributeValue.FromLabel("General", 1));

    [Fact]
    public async Task GetDocument_SendsQuotedDocumentIdFilterWithoutSearchText_AndOrdersByChunkId()
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([Document("O'Brien", "c#2"), Document("O'Brien", "c#10"), Document("O'Brien", "c#1"), Document("O'Brien2", "x#1")], CancellationToken.None);

        var chunks = await store.GetDocumentAsync("O'Brien", CancellationToken.None);

        Assert.Equal(["c#1", "c#10", "c#2"], chunks.Select(static c => c.Id));
        Assert.All(chunks, static c => Assert.Equal("O'Brien", c.DocumentId));
        AssertJson(
            $$"""{"filter":"documentId eq 'O''Brien'","select":"{{Select}}","top":1000}""",
            Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json);
    }

    [Fact]
    public async Task GetDocument_MoreChunksThanOnePage_PagesWithSkipUntilAShortPage()
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([.. Enumerable.Range(0, 1001).Select(static i => Document("big", $"big#{i:D4}"))], CancellationToken.None);

        var chunks = await store.GetDocumentAsync("big", CancellationToken.None);

        Assert.Equal(Enumerable.Range(0, 1001).Select(static i => $"big#{i:D4}"), chunks.Select(static c => c.Id));
        var searches = _service.RequestsTo("/docs/search.post.search");
        Assert.Equal(2, searches.Count);
        Assert.Null(searches[0].Json["skip"]);
        Assert.Equal(1000, searches[1].Json["skip"]!.GetValue<int>());
        Assert.All(searches, static s => Assert.Equal(1000, s.Json["top"]!.GetValue<int>()));
    }

    [Fact]
    public async Task GetDocument_Unknown_IsEmpty()
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([Document("a", "a#1")], CancellationToken.None);

        Assert.Empty(await store.GetDocumentAsync("no-such-document", CancellationToken.None));
    }

    [Fact]
    public async Task SetDocumentLabel_MergesOnlyLabelAndRankIntoEveryChunk_AndTheNextSearchSeesIt()
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([Document("d", "d#1"), Document("d", "d#0"), Document("e", "e#0")], CancellationToken.None);
        Assert.Equal(["d#0", "d#1", "e#0"], await IdsAsync(store, UpToGeneral));
        var before = _service.RequestsTo("/docs/search.index").Count;

        var changed = await store.SetDocumentLabelAsync("d", LabelTaxonomy.Default.Get("Highly Confidential"), CancellationToken.None);

        Assert.Equal(2, changed);
        var merge = _service.RequestsTo("/docs/search.index").Skip(before).Single();
        AssertJson(
            """
            {"value":[
              {"@search.action":"merge","key":"ZCMw","label":"Highly Confidential","labelRank":3},
              {"@search.action":"merge","key":"ZCMx","label":"Highly Confidential","labelRank":3}]}
            """,
            merge.Json);
        Assert.Equal(["e#0"], await IdsAsync(store, UpToGeneral));
        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, new NotFilter(UpToGeneral), 10), CancellationToken.None);
        Assert.Equal(["d#0", "d#1"], result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal));
        Assert.All(result.Chunks, static c =>
        {
            Assert.Equal("Highly Confidential", c.Chunk.Label.Name);
            Assert.True(c.Chunk.ResourceAttributes.TryGet("label", out var values));
            Assert.Equal(3, Assert.Single(values).Number);
            Assert.Equal("text " + c.Chunk.Id, c.Chunk.Text);
            Assert.True(c.Chunk.Attributes.TryGet("account", out var accounts));
            Assert.Equal("acme", Assert.Single(accounts).Text);
        });
    }

    [Fact]
    public async Task SetDocumentLabel_UnknownDocument_ReturnsZeroAndSendsNoMerge()
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([Document("d", "d#0")], CancellationToken.None);
        var before = _service.RequestsTo("/docs/search.index").Count;

        Assert.Equal(0, await store.SetDocumentLabelAsync("D", LabelTaxonomy.Default.Get("Confidential"), CancellationToken.None));

        Assert.Equal(before, _service.RequestsTo("/docs/search.index").Count);
        Assert.Equal(["d#0"], await IdsAsync(store, UpToGeneral));
    }

    [Theory]
    [InlineData("x') or true or ('", "documentId eq 'x'') or true or ('''")]
    [InlineData("文档 🙂", "documentId eq '文档 🙂'")]
    [InlineData("a\0b", "documentId eq 'a\0b'")]
    public async Task SetDocumentLabel_HostileDocumentIds_AreOneQuotedLiteral_AndRelabelOnlyThatDocument(string hostile, string expectedFilter)
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([Document(hostile, "h#0"), Document("other", "o#0")], CancellationToken.None);

        Assert.Equal(1, await store.SetDocumentLabelAsync(hostile, LabelTaxonomy.Default.Get("Confidential"), CancellationToken.None));

        Assert.Equal(expectedFilter, _service.RequestsTo("/docs/search.post.search")[^1].Json["filter"]!.GetValue<string>());
        Assert.Equal(["o#0"], await IdsAsync(store, UpToGeneral));
        Assert.Equal("Confidential", (await store.GetAsync("h#0", CancellationToken.None))!.Label.Name);
    }

    private static StoredChunk Document(string documentId, string id) =>
        new(
            new Chunk { Id = id, DocumentId = documentId, Source = "kb", Label = LabelTaxonomy.Default.Get("General"), Text = "text " + id, Attributes = new AttributeSetBuilder().Add("account", "acme").Build() },
            new float[] { 1, 0, 0, 0 });

    private static async Task<string[]> IdsAsync(IChunkStore store, FilterNode filter)
    {
        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, filter, 50), CancellationToken.None);
        return [.. result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal)];
    }
}
