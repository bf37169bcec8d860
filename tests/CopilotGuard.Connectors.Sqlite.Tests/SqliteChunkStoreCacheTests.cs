using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.Sqlite.Tests;

/// <summary>The decoded-chunk cache never serves a chunk older than the filter's view of the file: label changes and
/// upserts made through another store instance (another process) are seen by the next search, in the pushed-down
/// filter and in the returned chunk alike.</summary>
public sealed class SqliteChunkStoreCacheTests : IDisposable
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task Search_AfterAnotherInstanceRelabelsADocument_SeesTheNewLabelInFilterAndChunk()
    {
        using var server = await OpenAsync();
        using var other = await OpenAsync();
        await server.UpsertAsync([Stored("d1#0", "d1", "General", 0), Stored("d2#0", "d2", "General", 1)], CancellationToken.None);
        var upToGeneral = Label(ComparisonOperator.LessThanOrEqual, "General");

        var before = await server.SearchAsync(new ChunkQuery(Vector(0), FilterNode.True, Top: 10), CancellationToken.None);
        Assert.All(before.Chunks, hit => Assert.Equal("General", hit.Chunk.Label.Name));

        Assert.Equal(1, await other.SetDocumentLabelAsync("d1", Labels.Get("Highly Confidential"), CancellationToken.None));

        var all = await server.SearchAsync(new ChunkQuery(Vector(0), FilterNode.True, Top: 10), CancellationToken.None);
        Assert.Equal("Highly Confidential", all.Chunks.Single(hit => hit.Chunk.Id == "d1#0").Chunk.Label.Name);
        Assert.Equal(Labels.Get("Highly Confidential").Rank, all.Chunks.Single(hit => hit.Chunk.Id == "d1#0").Chunk.ResourceAttributes.Single(pair => pair.Key == "label").Value[0].Number);
        var cleared = await server.SearchAsync(new ChunkQuery(Vector(0), upToGeneral, Top: 10), CancellationToken.None);
        Assert.Equal(["d2#0"], cleared.Chunks.Select(hit => hit.Chunk.Id));
    }

    [Fact]
    public async Task Search_AfterAnotherInstanceReplacesAChunk_ReturnsTheNewTextAndAttributes()
    {
        using var server = await OpenAsync();
        using var other = await OpenAsync();
        await server.UpsertAsync([Stored("d1#0", "d1", "General", 0, account: "contoso")], CancellationToken.None);
        Assert.Single((await server.SearchAsync(new ChunkQuery(Vector(0), Eq("account", "contoso"), Top: 10), CancellationToken.None)).Chunks);

        await other.UpsertAsync([Stored("d1#0", "d1", "General", 0, account: "fabrikam", text: "replaced")], CancellationToken.None);

        Assert.Empty((await server.SearchAsync(new ChunkQuery(Vector(0), Eq("account", "contoso"), Top: 10), CancellationToken.None)).Chunks);
        var hit = Assert.Single((await server.SearchAsync(new ChunkQuery(Vector(0), Eq("account", "fabrikam"), Top: 10), CancellationToken.None)).Chunks);
        Assert.Equal("replaced", hit.Chunk.Text);
        Assert.Equal("fabrikam", hit.Chunk.Attributes.Single(pair => pair.Key == "account").Value[0].Text);
    }

    [Fact]
    public async Task Search_ManyCandidates_ReturnsTheSameTopKAsAFullSortWithTiesByChunkId()
    {
        using var store = await OpenAsync();
        var random = new Random(7);
        var chunks = Enumerable.Range(0, 300)
            .Select(i => new StoredChunk(Make($"c{i:D3}", $"d{i}", "General"), Vector(random.Next(4))))
            .ToList();
        await store.UpsertAsync(chunks, CancellationToken.None);
        var query = Vector(1);
        var expected = chunks
            .Select(c => (c.Chunk.Id, Score: Math.Round(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(query, c.Vector.Span), 6)))
            .OrderByDescending(c => c.Score).ThenBy(c => c.Id, StringComparer.Ordinal)
            .ToList();

        foreach (var (top, skip) in new[] { (1, 0), (10, 0), (10, 5), (50, 120), (400, 0), (10, 295) })
        {
            var result = await store.SearchAsync(new ChunkQuery(query, FilterNode.True, Top: top, Skip: skip), CancellationToken.None);
            Assert.Equal(expected.Skip(skip).Take(top).Select(c => c.Id), result.Chunks.Select(hit => hit.Chunk.Id));
        }
    }

    [Fact]
    public async Task RepeatedFilter_AfterAnotherInstanceRelabelsOrUpserts_IsRunAgainAtTheNewRevision()
    {
        using var server = await OpenAsync();
        using var other = await OpenAsync();
        await server.UpsertAsync([Stored("d1#0", "d1", "General", 0), Stored("d2#0", "d2", "General", 1)], CancellationToken.None);
        var upToGeneral = Label(ComparisonOperator.LessThanOrEqual, "General");
        Assert.Equal(["d1#0", "d2#0"], await IdsAsync(server, upToGeneral));
        Assert.Equal(["d1#0", "d2#0"], await IdsAsync(server, upToGeneral));

        Assert.Equal(1, await other.SetDocumentLabelAsync("d1", Labels.Get("Highly Confidential"), CancellationToken.None));
        Assert.Equal(["d2#0"], await IdsAsync(server, upToGeneral));

        await other.UpsertAsync([Stored("d3#0", "d3", "Public", 2)], CancellationToken.None);
        Assert.Equal(["d2#0", "d3#0"], await IdsAsync(server, upToGeneral));
    }

    [Fact]
    public async Task FiltersWithTheSameDescription_ButDifferentValues_DoNotShareACachedResult()
    {
        // The audit description joins parameters as "$p0=..., $p1=...": values that contain that text make two different
        // filters read the same. The cached result must follow the filter, not its description.
        using var store = await OpenAsync();
        await store.UpsertAsync([new StoredChunk(Make("d1#0", "d1", "General", account: "x") with
        {
            Attributes = new AttributeSetBuilder().Add("account", "x").Add("region", "s, $p1=account, $p2=t").Build(),
        }, Vector(0))], CancellationToken.None);
        FilterNode first = new AndFilter([Eq("account", "x, $p1=account, $p2=s"), Eq("region", "t")]);
        FilterNode second = new AndFilter([Eq("account", "x"), Eq("region", "s, $p1=account, $p2=t")]);
        Assert.Equal(store.DescribeFilter(first), store.DescribeFilter(second));

        Assert.Empty(await IdsAsync(store, first));
        Assert.Equal(["d1#0"], await IdsAsync(store, second));
        Assert.Empty(await IdsAsync(store, first));
    }

    [Fact]
    public async Task CachedFilterResults_MatchUncachedSearches_OverRandomFiltersAndChanges()
    {
        using var cached = await OpenAsync();
        using var uncached = new SqliteChunkStore(_folder.File("store.db"), Labels, maxCachedFilterResults: 0);
        await uncached.InitializeAsync(CancellationToken.None);
        var random = new Random(11);
        string[] accounts = ["a", "b", "a, $p1=account", "\u00e9", "'; DROP TABLE chunks; --", ""];
        string[] labels = ["Public", "General", "Confidential", "Highly Confidential"];
        await cached.UpsertAsync([.. Enumerable.Range(0, 60).Select(i => Stored($"c{i:D2}#0", $"c{i:D2}", labels[i % 4], i, account: accounts[i % accounts.Length]))], CancellationToken.None);
        for (var round = 0; round < 300; round++)
        {
            FilterNode filter = random.Next(3) switch
            {
                0 => Eq("account", accounts[random.Next(accounts.Length)]),
                1 => new OrFilter([Eq("account", accounts[random.Next(accounts.Length)]), Label(ComparisonOperator.LessThanOrEqual, labels[random.Next(4)])]),
                _ => new AndFilter([new NotFilter(Eq("account", accounts[random.Next(accounts.Length)])), Label(ComparisonOperator.GreaterThan, labels[random.Next(4)])]),
            };
            Assert.Equal(await IdsAsync(uncached, filter), await IdsAsync(cached, filter));
            if (random.Next(20) == 0)
            {
                var i = random.Next(60);
                await uncached.SetDocumentLabelAsync($"c{i:D2}", Labels.Get(labels[random.Next(4)]), CancellationToken.None);
            }
        }
    }

    private static async Task<string[]> IdsAsync(SqliteChunkStore store, FilterNode filter) =>
        [.. (await store.SearchAsync(new ChunkQuery(Vector(0), filter, Top: 100), CancellationToken.None)).Chunks.Select(hit => hit.Chunk.Id).Order(StringComparer.Ordinal)];

    public void Dispose() => _folder.Dispose();

    private async Task<SqliteChunkStore> OpenAsync()
    {
        var store = new SqliteChunkStore(_folder.File("store.db"), Labels);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private static StoredChunk Stored(string id, string document, string label, int vector, string account = "contoso", string text = "text") =>
        new(Make(id, document, label, account, text), Vector(vector));

    private static Chunk Make(string id, string document, string label, string account = "contoso", string text = "text") => new()
    {
        Id = id,
        DocumentId = document,
        Source = "kb",
        Label = Labels.Get(label),
        Version = 1,
        Text = text,
        Attributes = new AttributeSetBuilder().Add("account", account).Build(),
    };

    private static ComparisonFilter Eq(string attribute, string value) => new(attribute, ComparisonOperator.Equal, AttributeValue.FromString(value));

    private static ComparisonFilter Label(ComparisonOperator op, string label) => new("label", op, Labels.Get(label).ToAttributeValue());

    private static float[] Vector(int i)
    {
        var vector = new float[8];
        vector[i % 8] = 1;
        vector[(i + 1) % 8] = 0.5f;
        return vector;
    }
}
