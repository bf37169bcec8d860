using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using CopilotGuard.Typing;

namespace CopilotGuard.Tests.Typing;

/// <summary>A store ingested before attributes were typed is refused until it is ingested again.</summary>
public sealed class StoredAttributeTypesTests
{
    private static readonly AttributeSchema Schema = AttributeSchema.Create(AttributeSchemaFile.Parse(
        "attributes.yaml", "apiVersion: copilotguard/v1\nresource:\n  restricted: boolean\n  clearance_level: number\n  created: timestamp\n  account: string\n"));

    private static StoredChunk Stored(string id, Action<AttributeSetBuilder> attributes)
    {
        var builder = new AttributeSetBuilder();
        attributes(builder);
        return new StoredChunk(
            new Chunk { Id = id, DocumentId = id.Split('#')[0], Source = "kb", Label = LabelTaxonomy.Default.Get("General"), Text = "t", Attributes = builder.Build() },
            new float[] { 1, 0 });
    }

    [Fact]
    public async Task StoreHoldingStringsForTypedAttributes_IsRefusedNamingEveryAttribute_UntilReingested()
    {
        var store = new InMemoryChunkStore();
        // What the old reader wrote: every front-matter scalar a string.
        await store.UpsertAsync(
        [
            Stored("a#0", b => b.Add("restricted", "true").Add("clearance_level", "5").Add("account", "contoso")),
            Stored("b#0", b => b.Add("restricted", AttributeValue.FromBoolean(false)).Add("created", "2024-03-01")),
        ], CancellationToken.None);

        var exception = await Assert.ThrowsAsync<StoredAttributeTypeException>(() => StoredAttributeTypes.EnsureMatchAsync(store, Schema, CancellationToken.None));

        Assert.Equal(["clearance_level", "created", "restricted"], exception.Mismatches.Select(static m => m.Name));
        Assert.Contains("resource.restricted (declared boolean in attributes.yaml:3, stored as string)", exception.Message, StringComparison.Ordinal);
        Assert.Contains("resource.clearance_level (declared number in attributes.yaml:4, stored as string)", exception.Message, StringComparison.Ordinal);
        Assert.Contains("Run `copilotguard ingest", exception.Message, StringComparison.Ordinal);

        // Re-ingestion rewrites the chunks (same ids) with typed values.
        await store.UpsertAsync(
        [
            Stored("a#0", b => b.Add("restricted", AttributeValue.FromBoolean(true)).Add("clearance_level", AttributeValue.FromNumber(5)).Add("account", "contoso")),
            Stored("b#0", b => b.Add("restricted", AttributeValue.FromBoolean(false)).Add("created", AttributeValue.FromTimestamp(new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero)))),
        ], CancellationToken.None);
        Assert.True(await StoredAttributeTypes.EnsureMatchAsync(store, Schema, CancellationToken.None));
    }

    [Fact]
    public void FindMismatches_IgnoresUndeclaredAttributesAndMatchingKinds()
    {
        var stored = new Dictionary<string, IReadOnlySet<AttributeKind>>(StringComparer.Ordinal)
        {
            ["restricted"] = new HashSet<AttributeKind> { AttributeKind.Boolean },
            ["undeclared"] = new HashSet<AttributeKind> { AttributeKind.String, AttributeKind.Number },
            ["label"] = new HashSet<AttributeKind> { AttributeKind.Label },
            ["version"] = new HashSet<AttributeKind> { AttributeKind.Number, AttributeKind.String },
        };

        var mismatch = Assert.Single(StoredAttributeTypes.FindMismatches(Schema, stored));

        Assert.Equal("resource.version (declared number in built-in, stored as string)", mismatch.ToString());
    }
}
