using System.Collections.Immutable;
using System.Text;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.PostgreSql.Tests;

[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlChunkStoreTests(PostgresServer server)
{
    [PostgresFact]
    public async Task Search_NulInAttributeValue_IsAnOrdinaryValue()
    {
        var store = await CreateAsync();
        await store.UpsertAsync(
        [
            Stored("n1", b => b.Add("account", "a\0b")),
            Stored("n2", b => b.Add("account", "a")),
            Stored("n3", b => b.Add("account", "\0")),
        ], CancellationToken.None);

        Assert.Equal(["n1"], await IdsAsync(store, Eq("account", "a\0b")));
        Assert.Equal(["n1", "n2"], await IdsAsync(store, new StartsWithFilter("account", "a")));
        Assert.Equal(["n1"], await IdsAsync(store, new StartsWithFilter("account", "a\0")));
        Assert.Equal(["n3"], await IdsAsync(store, new InFilter("account", [AttributeValue.FromString("\0")])));
        Assert.Equal(["n2", "n3"], await IdsAsync(store, new NotFilter(Eq("account", "a\0b"))));
        var loaded = await store.GetAsync("n1", CancellationToken.None);
        Assert.True(loaded!.Attributes.TryGet("account", out var values));
        Assert.Equal("a\0b", Assert.Single(values).Text);
    }

    [PostgresFact]
    public async Task GetAttributeKinds_ListsEveryKindStoredPerName()
    {
        var store = await CreateAsync();
        await store.UpsertAsync(
        [
            Stored("k1", b => b.Add("restricted", "true").Add("level", AttributeValue.FromNumber(5))),
            Stored("k2", b => b.Add("restricted", AttributeValue.FromBoolean(false))),
        ], CancellationToken.None);

        var kinds = await ((IChunkStore)store).GetAttributeKindsAsync(CancellationToken.None);

        Assert.NotNull(kinds);
        Assert.Equal([AttributeKind.String, AttributeKind.Boolean], kinds["restricted"].Order());
        Assert.Equal([AttributeKind.Number], kinds["level"]);
    }

    [PostgresFact]
    public async Task GetAndSearch_StructuredRow_KeepFieldsAndTheirSchema()
    {
        // The releaser reads each field's label and the text template from the row schema: a store that lost it would
        // release every field at the chunk's label.
        var store = await CreateAsync();
        var schema = new RowSchema(
            "{name} earns {salary}",
            ImmutableDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, FieldSchema>("name", new FieldSchema("string", "General")), new("salary", new FieldSchema("number", "Highly Confidential"))]));
        var row = Stored("r1", _ => { }) is var stored
            ? stored with { Chunk = stored.Chunk with { Fields = ImmutableDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, System.Text.Json.JsonElement>("name", System.Text.Json.JsonSerializer.SerializeToElement("Jane")), new("salary", System.Text.Json.JsonSerializer.SerializeToElement(123))]), Schema = schema } }
            : null!;
        await store.UpsertAsync([row], CancellationToken.None);

        var loaded = await store.GetAsync("r1", CancellationToken.None);
        var found = Assert.Single((await store.SearchAsync(new ChunkQuery(row.Vector, FilterNode.True, Top: 5), CancellationToken.None)).Chunks).Chunk;

        foreach (var chunk in new[] { loaded!, found })
        {
            Assert.Equal(schema, chunk.Schema);
            Assert.Equal(["name", "salary"], chunk.Fields!.Keys.Order(StringComparer.Ordinal));
        }
    }

    [PostgresFact]
    public async Task Upsert_NulInChunkText_IsRefusedBeforeWriting()
    {
        var store = await CreateAsync();
        var chunk = Stored("t1", _ => { }) is var stored ? stored with { Chunk = stored.Chunk with { Text = "bad\0text" } } : null!;

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.UpsertAsync([Stored("ok", _ => { }), chunk], CancellationToken.None));

        Assert.Contains("U+0000", error.Message, StringComparison.Ordinal);
        Assert.Contains("text", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await store.CountAsync(CancellationToken.None));
    }

    [PostgresFact]
    public async Task Search_PrefixEndingInHighSurrogate_MatchesLikeOrdinalStartsWith()
    {
        var store = await CreateAsync();
        await store.UpsertAsync([Stored("e1", b => b.Add("tags", "🙂")), Stored("e2", b => b.Add("tags", "😀x")), Stored("e3", b => b.Add("tags", "a"))], CancellationToken.None);

        // "🙂" is D83D DE42 and "😀" is D83D DE00: both start with the lone high surrogate D83D under ordinal comparison.
        Assert.Equal(["e1", "e2"], await IdsAsync(store, new StartsWithFilter("tags", "\uD83D")));
        Assert.Empty(await IdsAsync(store, new StartsWithFilter("tags", "\uDE42")));
    }

    [PostgresFact]
    public async Task Search_CollationIsNotApplied_CaseAndAccentsAreDistinct()
    {
        var store = await CreateAsync();
        await store.UpsertAsync([Stored("k1", b => b.Add("account", "Contoso")), Stored("k2", b => b.Add("account", "contoso")), Stored("k3", b => b.Add("account", "contosö"))], CancellationToken.None);

        Assert.Equal(["k2"], await IdsAsync(store, Eq("account", "contoso")));
        Assert.Equal(["k1"], await IdsAsync(store, new StartsWithFilter("account", "C")));
    }

    [PostgresFact]
    public async Task Initialize_ManyInstancesAndAnAuditLogAtOnce_CreateOneSchemaWithoutRacing()
    {
        var schema = server.NewSchema();
        var stores = Enumerable.Range(0, 5).Select(_ => new PostgreSqlChunkStore(server.DataSource, LabelTaxonomy.Default, new PostgreSqlChunkStoreOptions { Schema = schema })).ToArray();
        await using var log = new PostgreSqlAuditLog(server.DataSource, new PostgreSqlAuditLogOptions { Schema = schema });

        await Task.WhenAll(stores.Select(store => Task.Run(() => store.InitializeAsync(CancellationToken.None))).Append(Task.Run(() => log.InitializeAsync(CancellationToken.None))));

        await stores[0].UpsertAsync([Stored("s1", _ => { })], CancellationToken.None);
        Assert.Equal(1, await stores[4].CountAsync(CancellationToken.None));
    }

    [WithoutPgVectorFact]
    public async Task Initialize_PgVectorRequiredButMissing_FailsAtStartUp()
    {
        var store = new PostgreSqlChunkStore(server.DataSource, LabelTaxonomy.Default, new PostgreSqlChunkStoreOptions { Schema = server.NewSchema(), VectorSearch = PostgreSqlVectorSearch.PgVector });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(CancellationToken.None));
        Assert.Contains("vector", error.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task Search_SecondInstanceAfterUpsert_SeesNewVectors()
    {
        var schema = server.NewSchema();
        var first = await CreateAsync(schema);
        var second = await CreateAsync(schema);
        await first.UpsertAsync([Stored("v1", _ => { })], CancellationToken.None);
        Assert.Single((await second.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, FilterNode.True, 5), CancellationToken.None)).Chunks);

        await first.UpsertAsync([Stored("v2", _ => { })], CancellationToken.None);

        Assert.Equal(2, (await second.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, FilterNode.True, 5), CancellationToken.None)).Chunks.Count);
    }

    [Fact]
    public void Compile_HostileValues_NeverEnterTheSqlText()
    {
        foreach (var value in RandomScenarios.HostileValues.Where(static v => v.Length > 1))
        {
            var filter = PostgreSqlFilterCompiler.Compile(
                new OrFilter([Eq("account", value), new NotFilter(new StartsWithFilter("tags", value)), new InFilter("x", [AttributeValue.FromString(value)])]),
                "s.chunk_attributes");

            Assert.DoesNotContain(value, filter.Sql, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Compile_LongList_IsOneArrayParameter()
    {
        var values = Enumerable.Range(0, 5000).Select(static i => AttributeValue.FromString($"g{i}")).ToImmutableArray();

        var filter = PostgreSqlFilterCompiler.Compile(new InFilter("groups", values), "s.chunk_attributes");

        Assert.Equal(2, filter.Parameters.Count);
        Assert.Equal(5000, ((byte[][])filter.Parameters[0].Value).Length);
        Assert.Equal(
            "EXISTS (SELECT 1 FROM s.chunk_attributes a WHERE a.chunk_key = c.chunk_key AND a.name = @p1 AND (a.kind = 0 AND a.value = ANY(@p0)))",
            filter.Sql);
    }

    [Fact]
    public void Compile_NegatedLeaf_GuardsPresenceAndOtherKinds()
    {
        var filter = PostgreSqlFilterCompiler.Compile(new NotFilter(new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, AttributeValue.FromLabel("General", 1))), "s.chunk_attributes");

        // Present, and no row is a label at or below rank 1 or a value of another kind (the empty-list marker is -1).
        Assert.Equal(
            "(EXISTS (SELECT 1 FROM s.chunk_attributes a WHERE a.chunk_key = c.chunk_key AND a.name = @p0) AND NOT EXISTS (SELECT 1 FROM s.chunk_attributes a WHERE a.chunk_key = c.chunk_key AND a.name = @p2 AND ((a.kind <> 3 AND a.kind >= 0) OR (a.kind = 3 AND a.num <= @p1))))",
            filter.Sql);
    }

    [Fact]
    public void Compile_NulInAttributeName_IsFalseInBothPolaritiesAndSendsNoParameterForIt()
    {
        var filter = PostgreSqlFilterCompiler.Compile(
            new OrFilter([Eq("a\0b", "x"), new NotFilter(Eq("a\0b", "y")), Eq("account", "z")]), "s.chunk_attributes");

        Assert.Equal(
            "(FALSE OR FALSE OR EXISTS (SELECT 1 FROM s.chunk_attributes a WHERE a.chunk_key = c.chunk_key AND a.name = @p1 AND a.kind = 0 AND a.value = @p0))",
            filter.Sql);
        Assert.Equal(["p0", "p1"], filter.Parameters.Select(static p => p.Name));
    }

    [Fact]
    public void Compile_NegatedOrderOnStrings_IsPresentWithNoValue()
    {
        var filter = PostgreSqlFilterCompiler.Compile(new NotFilter(new ComparisonFilter("account", ComparisonOperator.GreaterThan, AttributeValue.FromString("a"))), "s.chunk_attributes");

        Assert.Equal(
            "(EXISTS (SELECT 1 FROM s.chunk_attributes a WHERE a.chunk_key = c.chunk_key AND a.name = @p0) AND NOT EXISTS (SELECT 1 FROM s.chunk_attributes a WHERE a.chunk_key = c.chunk_key AND a.name = @p1 AND a.kind >= 0))",
            filter.Sql);
    }

    [Fact]
    public void PrefixRange_AsciiPrefix_IsHalfOpenByteRange()
    {
        var (lower, upper) = PostgreSqlFilterCompiler.PrefixRange("ab")!.Value;

        Assert.Equal("ab"u8.ToArray(), lower);
        Assert.Equal("ac"u8.ToArray(), upper);
        Assert.Null(PostgreSqlFilterCompiler.PrefixRange("\uDC00x"));
        Assert.Equal(Encoding.UTF8.GetBytes("\U0001F400"), PostgreSqlFilterCompiler.PrefixRange("\uD83D")!.Value.Lower);
    }

    [Fact]
    public void Options_InvalidSchema_AreRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => new PostgreSqlChunkStoreOptions { Schema = "x; DROP SCHEMA public" }.Validate());
        Assert.Contains("Schema", error.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task LegacyAttributeRows_KindsZeroToThree_ReadBackAndFilterByKind()
    {
        var schema = server.NewSchema();
        var store = await CreateAsync(schema);
        await store.UpsertAsync([Stored("old", static _ => { })], CancellationToken.None);

        // Replace the ingested rows with exactly what the writer before typed semantics produced (no marker, no kind 4).
        await using (var command = server.DataSource.CreateCommand($"""
            INSERT INTO {schema}.chunk_attributes (chunk_key, name, kind, value, num)
            SELECT chunk_key, v.name, v.kind, convert_to(v.text, 'UTF8'), v.num FROM {schema}.chunks,
                (VALUES ('flag', 2::smallint, 'true', 1::double precision), ('n', 1::smallint, '5', 5), ('account', 0::smallint, '5', NULL),
                        ('lvl', 3::smallint, 'Confidential', 2)) AS v (name, kind, text, num)
            WHERE id = 'old'
            """))
        {
            Assert.Equal(4, await command.ExecuteNonQueryAsync());
        }

        var loaded = await store.GetAsync("old", CancellationToken.None);

        Assert.NotNull(loaded);
        Assert.True(loaded.Attributes.TryGet("flag", out var flag) && flag.Single() == AttributeValue.FromBoolean(true));
        Assert.True(loaded.Attributes.TryGet("n", out var n) && n.Single() == AttributeValue.FromNumber(5));
        Assert.True(loaded.Attributes.TryGet("account", out var account) && account.Single() == AttributeValue.FromString("5"));
        Assert.True(loaded.Attributes.TryGet("lvl", out var lvl) && lvl.Single() == AttributeValue.FromLabel("Confidential", 2));
        Assert.Equal(["old"], await IdsAsync(store, new ComparisonFilter("flag", ComparisonOperator.Equal, AttributeValue.FromBoolean(true))));
        Assert.Empty(await IdsAsync(store, new NotFilter(Eq("flag", "true"))));
        Assert.Empty(await IdsAsync(store, new NotFilter(Eq("n", "5"))));
        Assert.Empty(await IdsAsync(store, new NotFilter(new ComparisonFilter("account", ComparisonOperator.Equal, AttributeValue.FromNumber(5)))));
        Assert.Equal(["old"], await IdsAsync(store, new NotFilter(Eq("account", "6"))));
        Assert.Empty(await IdsAsync(store, new ComparisonFilter("lvl", ComparisonOperator.Equal, AttributeValue.FromNumber(2))));
        Assert.Equal(["old"], await IdsAsync(store, new ComparisonFilter("lvl", ComparisonOperator.GreaterThan, AttributeValue.FromLabel("General", 1))));
        Assert.Empty(await IdsAsync(store, new NotFilter(new ComparisonFilter("label", ComparisonOperator.Equal, AttributeValue.FromNumber(1)))));
    }

    [PostgresFact]
    public async Task EmptyList_IsOneMarkerRow_PresentButNeverAValue()
    {
        var schema = server.NewSchema();
        var store = await CreateAsync(schema);
        await store.UpsertAsync([Stored("e", static b => b.Declare("tags"))], CancellationToken.None);

        await using (var command = server.DataSource.CreateCommand($"SELECT kind, length(value), num IS NULL FROM {schema}.chunk_attributes WHERE name = 'tags'"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal((short)-1, reader.GetInt16(0));
            Assert.Equal(0, reader.GetInt32(1));
            Assert.True(reader.GetBoolean(2));
            Assert.False(await reader.ReadAsync());
        }

        Assert.Equal(["e"], await IdsAsync(store, new HasFilter("tags")));
        Assert.Empty(await IdsAsync(store, Eq("tags", string.Empty)));
        Assert.Equal(["e"], await IdsAsync(store, new NotFilter(Eq("tags", string.Empty))));
        Assert.Equal(["e"], await IdsAsync(store, new NotFilter(new StartsWithFilter("tags", string.Empty))));
        Assert.True((await store.GetAsync("e", CancellationToken.None))!.Attributes.TryGet("tags", out var tags));
        Assert.Empty(tags);
    }

    private async Task<PostgreSqlChunkStore> CreateAsync(string? schema = null)
    {
        var store = new PostgreSqlChunkStore(server.DataSource, LabelTaxonomy.Default, new PostgreSqlChunkStoreOptions { Schema = schema ?? server.NewSchema() });
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private static async Task<string[]> IdsAsync(IChunkStore store, FilterNode filter)
    {
        var result = await store.SearchAsync(new ChunkQuery(new float[] { 1, 0 }, filter, 50), CancellationToken.None);
        return [.. result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal)];
    }

    private static ComparisonFilter Eq(string attribute, string value) => new(attribute, ComparisonOperator.Equal, AttributeValue.FromString(value));

    private static StoredChunk Stored(string id, Action<AttributeSetBuilder> attributes)
    {
        var builder = new AttributeSetBuilder();
        attributes(builder);
        var chunk = new Chunk { Id = id, DocumentId = "doc-" + id, Source = "kb", Label = LabelTaxonomy.Default.Get("General"), Text = "text " + id, Attributes = builder.Build() };
        return new StoredChunk(chunk, new float[] { 1, 0 });
    }
}
