using System.Text.Json;
using System.Text.Json.Nodes;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

/// <summary>Asserts the exact requests the store sends through the SDK's transport.</summary>
public sealed partial class AzureAISearchChunkStoreTests
{
    private readonly FakeSearchService _service = new();

    [Fact]
    public async Task Initialize_NoIndex_CreatesIndexWithSecurityFieldsAndVectorProfile()
    {
        var store = CreateStore();

        await store.InitializeAsync(CancellationToken.None);

        var create = Assert.Single(_service.Requests, static r => r.Method == "POST" && r.PathAndQuery.StartsWith("/indexes?", StringComparison.Ordinal));
        var index = create.Json;
        Assert.Equal("chunks", index["name"]!.GetValue<string>());
        var fields = index["fields"]!.AsArray().Select(static f => f!.AsObject()).ToDictionary(static f => f["name"]!.GetValue<string>());
        Assert.True(fields["key"]["key"]!.GetValue<bool>());
        Assert.Equal("Edm.Int32", fields["labelRank"]["type"]!.GetValue<string>());
        Assert.True(fields["labelRank"]["filterable"]!.GetValue<bool>());
        Assert.Equal("Collection(Edm.String)", fields["subjects"]["type"]!.GetValue<string>());
        Assert.Equal("Collection(Edm.ComplexType)", fields["attributes"]["type"]!.GetValue<string>());
        Assert.Equal(
            ["name:Edm.String", "kind:Edm.Int32", "text:Edm.String", "number:Edm.Double"],
            fields["attributes"]["fields"]!.AsArray().Select(static f => $"{f!["name"]}:{f["type"]}"));
        Assert.All(fields["attributes"]["fields"]!.AsArray(), static f => Assert.True(f!["filterable"]!.GetValue<bool>()));
        Assert.Equal("Collection(Edm.Single)", fields["embedding"]["type"]!.GetValue<string>());
        Assert.Equal(4, fields["embedding"]["dimensions"]!.GetValue<int>());
        Assert.Equal("copilotguard-vector-profile", fields["embedding"]["vectorSearchProfile"]!.GetValue<string>());
        var algorithm = index["vectorSearch"]!["algorithms"]![0]!;
        Assert.Equal("exhaustiveKnn", algorithm["kind"]!.GetValue<string>());
        Assert.Equal("cosine", algorithm["exhaustiveKnnParameters"]!["metric"]!.GetValue<string>());
    }

    [Fact]
    public async Task Initialize_ExistingIndexMissingFields_FailsListingEveryProblem()
    {
        _service.SeedIndex(new JsonObject
        {
            ["name"] = "chunks",
            ["fields"] = new JsonArray(
                new JsonObject { ["name"] = "key", ["type"] = "Edm.String", ["key"] = true },
                new JsonObject { ["name"] = "labelRank", ["type"] = "Edm.String", ["filterable"] = true },
                new JsonObject { ["name"] = "source", ["type"] = "Edm.String", ["filterable"] = false }),
        });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => CreateStore().InitializeAsync(CancellationToken.None));

        Assert.Contains("field 'labelRank' is Edm.String, expected Edm.Int32", error.Message, StringComparison.Ordinal);
        Assert.Contains("field 'source' must be filterable", error.Message, StringComparison.Ordinal);
        Assert.Contains("field 'attributes' is missing", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_service.Requests, static r => r.Method == "POST" && r.PathAndQuery.StartsWith("/indexes?", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Upsert_SendsUploadActionsWithKeysAttributesAndVectors()
    {
        var store = await CreateInitializedAsync();
        var chunk = Chunk("hr/doc-1#3", b => b.Add("account", "O'Brien").Add("level", AttributeValue.FromNumber(2))) with { Subjects = ["p-1"] };

        await store.UpsertAsync([new StoredChunk(chunk, new float[] { 1, 0, 0, 0 })], CancellationToken.None);

        var upload = Assert.Single(_service.RequestsTo("/docs/search.index"));
        var document = upload.Json["value"]![0]!.AsObject();
        Assert.Equal("upload", document["@search.action"]!.GetValue<string>());
        Assert.Equal("aHIvZG9jLTEjMw", document["key"]!.GetValue<string>());
        Assert.Equal("hr/doc-1#3", document["id"]!.GetValue<string>());
        Assert.Equal(2, document["labelRank"]!.GetValue<int>());
        Assert.Equal("Confidential", document["label"]!.GetValue<string>());
        Assert.Equal(["p-1"], document["subjects"]!.AsArray().Select(static s => s!.GetValue<string>()));
        AssertJson("""[{"name":"account","kind":0,"text":"O'Brien","number":null},{"name":"level","kind":1,"text":"2","number":2}]""", document["attributes"]);
        Assert.Equal("[1,0,0,0]", document["embedding"]!.ToJsonString());
    }

    [Fact]
    public async Task Search_SendsFilterSelectVectorQueryAndTop()
    {
        var store = await CreateInitializedAsync();
        var filter = new AndFilter([new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, AttributeValue.FromLabel("General", 1)), new NotFilter(new ComparisonFilter("account", ComparisonOperator.Equal, AttributeValue.FromString("O'Brien")))]);

        var result = await store.SearchAsync(new ChunkQuery(new float[] { 0.5f, 0, 0, 1 }, filter, Top: 3, Skip: 2), CancellationToken.None);

        var search = Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json;
        const string expectedFilter = "(labelRank le 1 and (attributes/any(a: a/name eq 'account') and not (attributes/any(a: a/name eq 'account' and ((a/kind ne 0 and a/kind ge 0) or (a/kind eq 0 and a/text eq 'O''Brien'))))))";
        Assert.Equal(expectedFilter, search["filter"]!.GetValue<string>());
        Assert.Equal(expectedFilter, result.NativeFilter);
        Assert.Equal("id,documentId,source,label,labelRank,version,title,text,subjects,fields,rowSchema,attributes,embedding", search["select"]!.GetValue<string>());
        Assert.Equal(6, search["top"]!.GetValue<int>());
        Assert.Null(search["skip"]);
        Assert.Null(search["search"]);
        Assert.Equal("preFilter", search["vectorFilterMode"]!.GetValue<string>());
        AssertJson("""[{"kind":"vector","k":6,"fields":"embedding","vector":[0.5,0,0,1]}]""", search["vectorQueries"]);
    }

    [Fact]
    public async Task Search_ExhaustiveQueries_AsksForExhaustiveSearch()
    {
        var store = await CreateInitializedAsync(new AzureAISearchChunkStoreOptions { IndexName = "chunks", Dimensions = 4, ExhaustiveQueries = true });

        await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, FilterNode.True, Top: 1), CancellationToken.None);

        var search = Assert.Single(_service.RequestsTo("/docs/search.post.search")).Json;
        Assert.True(search["vectorQueries"]![0]!["exhaustive"]!.GetValue<bool>());
        Assert.Null(search["filter"]);
    }

    [Fact]
    public async Task Search_NulAndControlCharacters_TravelJsonEscapedInsideOneLiteral()
    {
        var store = await CreateInitializedAsync();

        await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, new ComparisonFilter("account", ComparisonOperator.Equal, AttributeValue.FromString("a\0b\n'c")), Top: 1), CancellationToken.None);

        var body = Assert.Single(_service.RequestsTo("/docs/search.post.search")).Body!;
        Assert.Contains("a\\u0000b\\n\\u0027\\u0027c", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_AlwaysFalseFilter_SendsNoRequest()
    {
        var store = await CreateInitializedAsync();

        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, new InFilter("account", []), Top: 5), CancellationToken.None);

        Assert.Empty(result.Chunks);
        Assert.True(result.Exhausted);
        Assert.Empty(_service.RequestsTo("/docs/search.post.search"));
    }

    [Fact]
    public async Task Search_StartsWith_ThrowsNotSupported()
    {
        var store = await CreateInitializedAsync();

        await Assert.ThrowsAsync<NotSupportedException>(() => store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, new StartsWithFilter("account", "a"), Top: 5), CancellationToken.None));
        Assert.Empty(_service.RequestsTo("/docs/search.post.search"));
        Assert.False(store.Capabilities.HasFlag(FilterCapabilities.StartsWith));
    }

    [Fact]
    public async Task GetAndCount_UseDocumentLookupAndCount()
    {
        var store = await CreateInitializedAsync();
        await store.UpsertAsync([new StoredChunk(Chunk("c/1", _ => { }), new float[] { 1, 0, 0, 0 })], CancellationToken.None);

        var found = await store.GetAsync("c/1", CancellationToken.None);
        var missing = await store.GetAsync("nope", CancellationToken.None);

        Assert.Equal("c/1", found!.Id);
        Assert.Null(missing);
        Assert.Equal(1, await store.CountAsync(CancellationToken.None));
        Assert.Contains(_service.Requests, static r => r.Method == "GET" && r.PathAndQuery.Contains("/docs('Yy8x')", StringComparison.Ordinal));
        Assert.Contains(_service.Requests, static r => r.Method == "GET" && r.PathAndQuery.Contains("/docs/$count", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetAndSearch_StructuredRow_KeepFieldsAndTheirSchema()
    {
        // The releaser reads each field's label and the text template from the row schema: an index that lost it
        // would release every field at the chunk's label.
        var store = await CreateInitializedAsync();
        var schema = new RowSchema(
            "{name} earns {salary}",
            System.Collections.Immutable.ImmutableDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, FieldSchema>("name", new FieldSchema("string", "General")), new("salary", new FieldSchema("number", "Highly Confidential"))]));
        var row = Chunk("r/1", _ => { }) with
        {
            Fields = System.Collections.Immutable.ImmutableDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, JsonElement>("name", JsonSerializer.SerializeToElement("Jane")), new("salary", JsonSerializer.SerializeToElement(123))]),
            Schema = schema,
        };
        await store.UpsertAsync([new StoredChunk(row, new float[] { 1, 0, 0, 0 })], CancellationToken.None);

        var loaded = await store.GetAsync("r/1", CancellationToken.None);
        var found = Assert.Single((await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, FilterNode.True, Top: 5), CancellationToken.None)).Chunks).Chunk;

        foreach (var chunk in new[] { loaded!, found })
        {
            Assert.Equal(schema, chunk.Schema);
            Assert.Equal(["name", "salary"], chunk.Fields!.Keys.Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public void Options_Invalid_ListEveryProblem()
    {
        var error = Assert.Throws<ArgumentException>(() => new AzureAISearchChunkStoreOptions { IndexName = "Bad_Name", Dimensions = 0, UploadBatchSize = 5000 }.Validate());

        Assert.Contains("IndexName", error.Message, StringComparison.Ordinal);
        Assert.Contains("Dimensions", error.Message, StringComparison.Ordinal);
        Assert.Contains("UploadBatchSize", error.Message, StringComparison.Ordinal);
    }

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {expected}, got {actual?.ToJsonString()}");

    private AzureAISearchChunkStore CreateStore(AzureAISearchChunkStoreOptions? options = null) =>
        new(_service.CreateIndexClient(), LabelTaxonomy.Default, options ?? new AzureAISearchChunkStoreOptions { IndexName = "chunks", Dimensions = 4, Algorithm = AzureAISearchVectorAlgorithm.ExhaustiveKnn });

    private async Task<AzureAISearchChunkStore> CreateInitializedAsync(AzureAISearchChunkStoreOptions? options = null)
    {
        var store = CreateStore(options);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private static Chunk Chunk(string id, Action<AttributeSetBuilder> attributes)
    {
        var builder = new AttributeSetBuilder();
        attributes(builder);
        return new Chunk { Id = id, DocumentId = "doc", Source = "hr", Label = LabelTaxonomy.Default.Get("Confidential"), Text = "text", Attributes = builder.Build() };
    }
}
