using System.Runtime.InteropServices;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests;

/// <summary>Typed attribute storage: rows written before the typed semantics (kinds 0-3) read and filter by kind,
/// and an empty list is one marker row that a later upsert replaces.</summary>
public sealed class SqliteTypedAttributeTests : IDisposable
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task LegacyRows_WrittenBeforeTypedSemantics_ReadBackAndFilterByKind()
    {
        var path = _folder.File("legacy.db");
        using var store = new SqliteChunkStore(path, Labels);
        await store.InitializeAsync(CancellationToken.None);

        // Exactly the rows the previous writer produced for a chunk (reserved attributes included), written directly.
        await using (var connection = new SqliteConnection($"Data Source={path}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO chunks (rowid, id, document_id, source, label, version, title, text, subjects, fields, row_schema, vector)
                VALUES (7, 'old', 'doc-old', 'kb', 'General', 1, NULL, 'old text', NULL, NULL, NULL, $vector);
                INSERT INTO chunk_attributes (chunk_rowid, name, kind, text, num) VALUES
                    (7, 'id', 0, 'old', NULL), (7, 'documentId', 0, 'doc-old', NULL), (7, 'source', 0, 'kb', NULL),
                    (7, 'label', 3, 'General', 1), (7, 'version', 1, '1', 1),
                    (7, 'flag', 2, 'true', 1), (7, 'n', 1, '5', 5), (7, 'account', 0, '5', NULL), (7, 'lvl', 3, 'Confidential', 2);
                UPDATE meta SET value = value + 1 WHERE key IN ('generation', 'revision');
                """;
            command.Parameters.AddWithValue("$vector", MemoryMarshal.AsBytes(new float[] { 1, 0, 0, 0 }.AsSpan()).ToArray());
            await command.ExecuteNonQueryAsync();
        }

        var loaded = await store.GetAsync("old", CancellationToken.None);

        Assert.NotNull(loaded);
        Assert.Equal([AttributeValue.FromBoolean(true)], Values(loaded, "flag"));
        Assert.Equal([AttributeValue.FromNumber(5)], Values(loaded, "n"));
        Assert.Equal([AttributeValue.FromString("5")], Values(loaded, "account"));
        Assert.Equal([AttributeValue.FromLabel("Confidential", 2)], Values(loaded, "lvl"));
        Assert.True(await PassesAsync(store, Cmp("flag", AttributeValue.FromBoolean(true))));
        Assert.False(await PassesAsync(store, Cmp("flag", AttributeValue.FromString("true"))));
        Assert.False(await PassesAsync(store, new NotFilter(Cmp("flag", AttributeValue.FromString("true")))));
        Assert.True(await PassesAsync(store, new NotFilter(Cmp("flag", AttributeValue.FromBoolean(false)))));
        Assert.False(await PassesAsync(store, new NotFilter(Cmp("n", AttributeValue.FromString("5")))));
        Assert.False(await PassesAsync(store, new NotFilter(Cmp("account", AttributeValue.FromNumber(5)))));
        Assert.True(await PassesAsync(store, new NotFilter(Cmp("account", AttributeValue.FromString("6")))));
        Assert.False(await PassesAsync(store, Cmp("lvl", AttributeValue.FromNumber(2))));
        Assert.True(await PassesAsync(store, Cmp("lvl", AttributeValue.FromLabel("Confidential", 2))));
        Assert.False(await PassesAsync(store, new NotFilter(Cmp("label", AttributeValue.FromNumber(3)))));
        Assert.True(await PassesAsync(store, new NotFilter(Cmp("label", AttributeValue.FromLabel("Confidential", 2)))));
    }

    [Fact]
    public async Task EmptyList_IsOneMarkerRow_ThatAnUpsertWithValuesReplaces()
    {
        var path = _folder.File("marker.db");
        using var store = new SqliteChunkStore(path, Labels);
        await store.InitializeAsync(CancellationToken.None);
        var chunk = new Chunk { Id = "c", DocumentId = "d", Source = "kb", Label = Labels.Get("General"), Text = "t", Attributes = new AttributeSetBuilder().Declare("tags").Build() };
        await store.UpsertAsync([new StoredChunk(chunk, new float[] { 1, 0, 0, 0 })], CancellationToken.None);

        Assert.Equal([(-1, string.Empty, (double?)null)], await RowsAsync(path, "tags"));
        Assert.True(await PassesAsync(store, new HasFilter("tags")));
        Assert.True(await PassesAsync(store, new NotFilter(Cmp("tags", AttributeValue.FromString(string.Empty)))));
        Assert.False(await PassesAsync(store, Cmp("tags", AttributeValue.FromString(string.Empty))));
        Assert.True((await store.GetAsync("c", CancellationToken.None))!.Attributes.TryGet("tags", out var empty));
        Assert.Empty(empty);

        await store.UpsertAsync([new StoredChunk(chunk with { Attributes = new AttributeSetBuilder().Add("tags", "a").Build() }, new float[] { 1, 0, 0, 0 })], CancellationToken.None);

        Assert.Equal([(0, "a", (double?)null)], await RowsAsync(path, "tags"));
        Assert.False(await PassesAsync(store, new NotFilter(Cmp("tags", AttributeValue.FromString("a")))));
    }

    public static TheoryData<string> PlannedFilters => ["eq-string", "lt-label", "in-mixed", "not-eq-string", "not-lt-number", "not-in-strings"];

    /// <summary>Every attribute subquery of a typed leaf, positive or negated, seeks an index by (name, kind, ...):
    /// the kind checks never turn a leaf into a scan of the attribute table.</summary>
    [Theory]
    [MemberData(nameof(PlannedFilters))]
    public async Task Compile_TypedLeaves_EveryAttributeSubquerySeeksAKindIndex(string name)
    {
        FilterNode filter = name switch
        {
            "eq-string" => Cmp("account", AttributeValue.FromString("x")),
            "lt-label" => new ComparisonFilter("label", ComparisonOperator.LessThan, AttributeValue.FromLabel("General", 1)),
            "in-mixed" => new InFilter("account", [AttributeValue.FromString("x"), AttributeValue.FromNumber(1)]),
            "not-eq-string" => new NotFilter(Cmp("account", AttributeValue.FromString("x"))),
            "not-lt-number" => new NotFilter(new ComparisonFilter("level", ComparisonOperator.LessThan, AttributeValue.FromNumber(2))),
            "not-in-strings" => new NotFilter(new InFilter("account", [AttributeValue.FromString("x"), AttributeValue.FromString("y")])),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        var path = _folder.File($"plan-{name}.db");
        using (var store = new SqliteChunkStore(path, Labels))
        {
            await store.InitializeAsync(CancellationToken.None);
        }

        var compiled = SqliteFilterCompiler.Compile(filter);
        await using var connection = new SqliteConnection($"Data Source={path}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"EXPLAIN QUERY PLAN SELECT c.rowid FROM chunks c WHERE {compiled.Sql}";
        foreach (var (parameter, value) in compiled.Parameters)
        {
            command.Parameters.AddWithValue(parameter, value);
        }

        var steps = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                steps.Add(reader.GetString(3));
            }
        }

        var attributeSteps = steps.Where(static step => step.Contains(" a ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(attributeSteps);
        Assert.All(attributeSteps, step => Assert.Matches("^SEARCH a USING (COVERING )?INDEX ix_attributes_(kind_text|kind_number|chunk) \\(", step));

        // Only a negation's presence check reads every row of the attribute; every value subquery seeks by kind.
        Assert.Equal(filter is NotFilter ? 1 : 0, attributeSteps.Count(static step => step.EndsWith("(name=?)", StringComparison.Ordinal)));
        Assert.All(attributeSteps.Where(static step => !step.EndsWith("(name=?)", StringComparison.Ordinal)), static step => Assert.Contains("kind", step, StringComparison.Ordinal));
    }

    public void Dispose() => _folder.Dispose();

    private static ComparisonFilter Cmp(string attribute, AttributeValue value) => new(attribute, ComparisonOperator.Equal, value);

    private static AttributeValue[] Values(Chunk chunk, string name) =>
        chunk.Attributes.TryGet(name, out var values) ? [.. values] : throw new InvalidOperationException($"{name} is missing");

    private static async Task<bool> PassesAsync(SqliteChunkStore store, FilterNode filter) =>
        (await store.SearchAsync(new ChunkQuery(new float[] { 1, 0, 0, 0 }, filter, Top: 10), CancellationToken.None)).Chunks.Count == 1;

    private static async Task<List<(int Kind, string Text, double? Number)>> RowsAsync(string path, string name)
    {
        await using var connection = new SqliteConnection($"Data Source={path}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT kind, text, num FROM chunk_attributes WHERE name = $name ORDER BY kind";
        command.Parameters.AddWithValue("$name", name);
        var rows = new List<(int, string, double?)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt32(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetDouble(2)));
        }

        return rows;
    }
}
