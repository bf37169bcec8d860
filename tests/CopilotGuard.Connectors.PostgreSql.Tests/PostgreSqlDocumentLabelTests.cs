using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.PostgreSql.Tests;

/// <summary>Relabelling a document in PostgreSQL: one transaction over the label column and the label attribute row the
/// compiled filter reads, seen by the very next search (also after the vector cache was filled).</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlDocumentLabelTests(PostgresServer server)
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private static readonly FilterNode UpToGeneral = new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, Labels.Get("General").ToAttributeValue());
    private static readonly FilterNode Confidential = new ComparisonFilter("label", ComparisonOperator.Equal, Labels.Get("Confidential").ToAttributeValue());

    [PostgresTheory]
    [InlineData(PostgreSqlVectorSearch.InProcess)]
    [InlineData(PostgreSqlVectorSearch.Auto)]
    public async Task SetDocumentLabel_NextSearchSeesTheNewLabel_InFilterAndReturnedChunk(PostgreSqlVectorSearch mode)
    {
        var store = await CreateAsync(mode);
        await store.UpsertAsync([Stored("d1#1", "d1"), Stored("d1#0", "d1"), Stored("d2#0", "d2")], CancellationToken.None);
        Assert.Equal(["d1#0", "d1#1", "d2#0"], await IdsAsync(store, UpToGeneral));
        Assert.Empty(await IdsAsync(store, Confidential));

        var changed = await store.SetDocumentLabelAsync("d1", Labels.Get("Confidential"), CancellationToken.None);

        Assert.Equal(2, changed);
        Assert.Equal(["d2#0"], await IdsAsync(store, UpToGeneral));
        Assert.Equal(["d1#0", "d1#1"], await IdsAsync(store, Confidential));
        Assert.Equal(["d1#0", "d1#1"], await IdsAsync(store, new NotFilter(UpToGeneral)));
        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, Confidential, 10), CancellationToken.None);
        Assert.All(result.Chunks, static c =>
        {
            Assert.Equal("Confidential", c.Chunk.Label.Name);
            Assert.True(c.Chunk.ResourceAttributes.TryGet("label", out var values));
            Assert.Equal(2, Assert.Single(values).Number);
        });
        var document = await store.GetDocumentAsync("d1", CancellationToken.None);
        Assert.Equal(["d1#0", "d1#1"], document.Select(static c => c.Id));
        Assert.All(document, static c => Assert.Equal("Confidential", c.Label.Name));
        Assert.Equal("Confidential", (await store.GetAsync("d1#1", CancellationToken.None))!.Label.Name);
        Assert.Equal("General", (await store.GetAsync("d2#0", CancellationToken.None))!.Label.Name);

        Assert.Equal(2, await store.SetDocumentLabelAsync("d1", Labels.Get("Public"), CancellationToken.None));
        Assert.Equal(["d1#0", "d1#1", "d2#0"], await IdsAsync(store, UpToGeneral));
        Assert.Empty(await IdsAsync(store, Confidential));
    }

    [PostgresFact]
    public async Task SetDocumentLabel_UnknownDocument_ReturnsZeroAndChangesNothing()
    {
        var store = await CreateAsync(PostgreSqlVectorSearch.InProcess);
        await store.UpsertAsync([Stored("a#0", "a"), Stored("b#0", "b")], CancellationToken.None);

        Assert.Equal(0, await store.SetDocumentLabelAsync("no-such-document", Labels.Get("Highly Confidential"), CancellationToken.None));
        Assert.Equal(0, await store.SetDocumentLabelAsync("A", Labels.Get("Highly Confidential"), CancellationToken.None));

        Assert.Equal(["a#0", "b#0"], await IdsAsync(store, UpToGeneral));
        Assert.Empty(await store.GetDocumentAsync("no-such-document", CancellationToken.None));
        Assert.All((await store.GetDocumentAsync("a", CancellationToken.None)).Concat(await store.GetDocumentAsync("b", CancellationToken.None)), static c => Assert.Equal("General", c.Label.Name));
    }

    [PostgresTheory]
    [InlineData("O'Brien")]
    [InlineData("x'); DELETE FROM chunks; --")]
    [InlineData("%")]
    [InlineData("文档 🙂 é")]
    [InlineData("\"quoted\" \\ back")]
    public async Task SetDocumentLabel_HostileDocumentIds_RelabelExactlyThatDocument(string hostile)
    {
        var store = await CreateAsync(PostgreSqlVectorSearch.InProcess);
        await store.UpsertAsync([Stored("h#0", hostile), Stored("h#1", hostile), Stored("other#0", "other"), Stored("prefix#0", hostile + "x")], CancellationToken.None);

        Assert.Equal(2, await store.SetDocumentLabelAsync(hostile, Labels.Get("Confidential"), CancellationToken.None));

        Assert.Equal(["h#0", "h#1"], await IdsAsync(store, Confidential));
        Assert.Equal(["other#0", "prefix#0"], await IdsAsync(store, UpToGeneral));
        Assert.Equal(["h#0", "h#1"], (await store.GetDocumentAsync(hostile, CancellationToken.None)).Select(static c => c.Id));
        Assert.Equal(4, await store.CountAsync(CancellationToken.None));
    }

    [PostgresFact]
    public async Task DocumentIdWithNul_MatchesNoDocument()
    {
        var store = await CreateAsync(PostgreSqlVectorSearch.InProcess);
        await store.UpsertAsync([Stored("n#0", "n")], CancellationToken.None);

        Assert.Equal(0, await store.SetDocumentLabelAsync("n\0", Labels.Get("Confidential"), CancellationToken.None));
        Assert.Empty(await store.GetDocumentAsync("n\0", CancellationToken.None));
        Assert.Equal(["n#0"], await IdsAsync(store, UpToGeneral));
    }

    private async Task<PostgreSqlChunkStore> CreateAsync(PostgreSqlVectorSearch mode)
    {
        var store = new PostgreSqlChunkStore(server.DataSource, Labels, new PostgreSqlChunkStoreOptions { Schema = server.NewSchema(), VectorSearch = mode });
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private static async Task<string[]> IdsAsync(IChunkStore store, FilterNode filter)
    {
        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, filter, 50), CancellationToken.None);
        return [.. result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal)];
    }

    private static StoredChunk Stored(string id, string documentId) =>
        new(new Chunk { Id = id, DocumentId = documentId, Source = "kb", Label = Labels.Get("General"), Text = "text " + id, Attributes = new AttributeSetBuilder().Add("account", "acme").Build() }, new float[] { 1, id.Length % 3 });
}
