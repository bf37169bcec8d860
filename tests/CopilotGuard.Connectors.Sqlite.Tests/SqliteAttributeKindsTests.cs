using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.Sqlite.Tests;

/// <summary>The SQLite store lists the kinds it holds per attribute, for the start-up check of stores ingested before
/// attributes were typed.</summary>
public sealed class SqliteAttributeKindsTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task GetAttributeKinds_ListsEveryKindStoredPerName_AndFollowsReplacements()
    {
        using var store = new SqliteChunkStore(_folder.File("store.db"), LabelTaxonomy.Default);
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync(
        [
            Stored("a#0", new AttributeSetBuilder().Add("restricted", "true").Add("level", AttributeValue.FromNumber(5))),
            Stored("b#0", new AttributeSetBuilder().Add("restricted", AttributeValue.FromBoolean(false))),
        ], CancellationToken.None);

        var kinds = await ((IChunkStore)store).GetAttributeKindsAsync(CancellationToken.None);

        Assert.NotNull(kinds);
        Assert.Equal([AttributeKind.String, AttributeKind.Boolean], kinds["restricted"].Order());
        Assert.Equal([AttributeKind.Number], kinds["level"]);

        await store.UpsertAsync([Stored("a#0", new AttributeSetBuilder().Add("restricted", AttributeValue.FromBoolean(true)))], CancellationToken.None);
        kinds = await ((IChunkStore)store).GetAttributeKindsAsync(CancellationToken.None);
        Assert.Equal([AttributeKind.Boolean], kinds!["restricted"]);
        Assert.False(kinds.ContainsKey("level"));
    }

    private static StoredChunk Stored(string id, AttributeSetBuilder attributes) => new(
        new Chunk { Id = id, DocumentId = id.Split('#')[0], Source = "kb", Label = LabelTaxonomy.Default.Get("General"), Version = 1, Text = "t", Attributes = attributes.Build() },
        new float[] { 1, 0, 0, 0, 0, 0, 0, 0 });
}
