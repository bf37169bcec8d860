using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.PostgreSql.Tests;

/// <summary>Runs the filter conformance suite with in-process ranking forced, so both ranking paths pass it whenever
/// pgvector is installed (the plain suite then ranks in SQL).</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlInProcessFilterConformanceTests(PostgresServer server) : FilterConformanceTests
{
    protected override Task<IChunkStore> CreateStoreAsync() =>
        Task.FromResult<IChunkStore>(new PostgreSqlChunkStore(server.DataSource, LabelTaxonomy.Default, new PostgreSqlChunkStoreOptions { Schema = server.NewSchema(), VectorSearch = PostgreSqlVectorSearch.InProcess }));
}

/// <summary>Differential: ranking in SQL with pgvector returns exactly what exact ranking in process returns (same
/// chunks, scores, order with ties by chunk id, and exhaustion), on the same data and filters.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlVectorSearchTests(PostgresServer server)
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;

    [PgVectorFact]
    public async Task SearchAsync_PgVectorAndInProcess_ReturnTheSameResultsForRandomQueries()
    {
        var random = new Random(4242);
        var corpus = Corpus(random, 400);
        var exact = await CreateAsync(PostgreSqlVectorSearch.InProcess, corpus);
        var inSql = await CreateAsync(PostgreSqlVectorSearch.PgVector, corpus);
        Assert.True(inSql.UsesPgVector);
        Assert.False(exact.UsesPgVector);
        FilterNode[] filters =
        [
            new ConstantFilter(true),
            new ComparisonFilter("account", ComparisonOperator.Equal, AttributeValue.FromString("a1")),
            new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, AttributeValue.FromLabel("General", 1)),
            new NotFilter(new ComparisonFilter("account", ComparisonOperator.Equal, AttributeValue.FromString("a2"))),
            new InFilter("account", [AttributeValue.FromString("a0"), AttributeValue.FromString("a3")]),
        ];

        for (var i = 0; i < 150; i++)
        {
            var query = new ChunkQuery(Vector(random), filters[i % filters.Length], random.Next(1, 25), random.Next(0, 12));

            var expected = await exact.SearchAsync(query, CancellationToken.None);
            var actual = await inSql.SearchAsync(query, CancellationToken.None);

            Assert.Equal(Describe(expected), Describe(actual));
            Assert.Equal(expected.Exhausted, actual.Exhausted);
        }
    }

    [PgVectorFact]
    public async Task InitializeAsync_Auto_CreatesTheExtensionAndBackfillsEarlierRows()
    {
        var schema = server.NewSchema();
        var random = new Random(7);
        var corpus = Corpus(random, 30);
        var before = new PostgreSqlChunkStore(server.DataSource, Labels, new PostgreSqlChunkStoreOptions { Schema = schema, VectorSearch = PostgreSqlVectorSearch.InProcess });
        await before.InitializeAsync(CancellationToken.None);
        await before.UpsertAsync(corpus, CancellationToken.None);

        var after = new PostgreSqlChunkStore(server.DataSource, Labels, new PostgreSqlChunkStoreOptions { Schema = schema });
        await after.InitializeAsync(CancellationToken.None);

        Assert.True(after.UsesPgVector);
        var query = new ChunkQuery(Vector(random), new ConstantFilter(true), 30);
        Assert.Equal(Describe(await before.SearchAsync(query, CancellationToken.None)), Describe(await after.SearchAsync(query, CancellationToken.None)));
    }

    private async Task<PostgreSqlChunkStore> CreateAsync(PostgreSqlVectorSearch mode, IReadOnlyList<StoredChunk> corpus)
    {
        var store = new PostgreSqlChunkStore(server.DataSource, Labels, new PostgreSqlChunkStoreOptions { Schema = server.NewSchema(), VectorSearch = mode });
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync(corpus, CancellationToken.None);
        return store;
    }

    private static string[] Describe(ChunkSearchResult result) =>
        [.. result.Chunks.Select(static c => $"{c.Chunk.Id}:{c.Score:R}")];

    /// <summary>Chunks over a few accounts and labels; a third share one of four vectors, so ties (broken by chunk id) are common.</summary>
    private static List<StoredChunk> Corpus(Random random, int count)
    {
        var shared = Enumerable.Range(0, 4).Select(_ => Vector(random)).ToArray();
        return
        [
            .. Enumerable.Range(0, count).Select(i =>
            {
                var chunk = new Chunk
                {
                    Id = $"c{random.Next(100_000):D5}-{i}",
                    DocumentId = $"d{i}",
                    Source = "kb",
                    Label = Labels.Labels[random.Next(Labels.Labels.Length)],
                    Text = $"text {i}",
                    Attributes = new AttributeSetBuilder().Add("account", $"a{random.Next(4)}").Build(),
                };
                return new StoredChunk(chunk, i % 3 == 0 ? shared[random.Next(shared.Length)] : Vector(random));
            }),
        ];
    }

    private static float[] Vector(Random random)
    {
        var vector = new float[8];
        for (var d = 0; d < vector.Length; d++)
        {
            vector[d] = (float)(random.NextDouble() * 2 - 1);
        }

        return vector;
    }
}
