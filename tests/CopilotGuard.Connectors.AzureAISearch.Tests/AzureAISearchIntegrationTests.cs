using Azure;
using Azure.Search.Documents.Indexes;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

/// <summary>A fact that runs only when AZURE_SEARCH_ENDPOINT and AZURE_SEARCH_KEY point at a real service.</summary>
public sealed class AzureSearchFactAttribute : FactAttribute
{
    public AzureSearchFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AZURE_SEARCH_ENDPOINT")) || string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AZURE_SEARCH_KEY")))
        {
            Skip = "Set AZURE_SEARCH_ENDPOINT and AZURE_SEARCH_KEY (an admin key) to run against a real Azure AI Search service.";
        }
    }
}

/// <summary>Runs the store against a real service in a throwaway index, deleted afterwards.</summary>
public sealed class AzureAISearchIntegrationTests
{
    [AzureSearchFact]
    public async Task RealService_FiltersAgreeWithTheEvaluator()
    {
        var client = new SearchIndexClient(new Uri(Environment.GetEnvironmentVariable("AZURE_SEARCH_ENDPOINT")!), new AzureKeyCredential(Environment.GetEnvironmentVariable("AZURE_SEARCH_KEY")!));
        var indexName = $"copilotguard-test-{Guid.NewGuid():N}"[..40];
        var store = new AzureAISearchChunkStore(client, LabelTaxonomy.Default, new AzureAISearchChunkStoreOptions { IndexName = indexName, Dimensions = 4, Algorithm = AzureAISearchVectorAlgorithm.ExhaustiveKnn });
        try
        {
            await store.InitializeAsync(CancellationToken.None);
            var chunks = new[]
            {
                Make("c1", "kb", "Public", b => b.Add("account", "contoso").Add("tags", "a").Add("level", AttributeValue.FromNumber(1))),
                Make("c2", "hr", "Confidential", b => b.Add("account", "O'Brien").Add("level", AttributeValue.FromNumber(3))),
                Make("c3", "support", "Highly Confidential", b => b.Add("account", "'; DROP TABLE chunks; --").Add("tags", "日本語")),
                Make("c4", "kb", "General", b => b.Add("tags", "🙂").Add("tags", "a|b")),
            };
            await store.UpsertAsync([.. chunks.Select(static (c, i) => new StoredChunk(c, Vector(i)))], CancellationToken.None);
            for (var attempt = 0; attempt < 30 && await store.CountAsync(CancellationToken.None) < chunks.Length; attempt++)
            {
                await Task.Delay(1000);
            }

            FilterNode[] filters =
            [
                Eq("account", "O'Brien"),
                Eq("account", "'; DROP TABLE chunks; --"),
                new NotFilter(Eq("account", "contoso")),
                new NotFilter(new HasFilter("level")),
                new ComparisonFilter("label", ComparisonOperator.LessThanOrEqual, LabelTaxonomy.Default.Get("General").ToAttributeValue()),
                new InFilter("tags", [AttributeValue.FromString("a|b"), AttributeValue.FromString("日本語"), AttributeValue.FromString("")]),
                new NotFilter(new ComparisonFilter("level", ComparisonOperator.LessThan, AttributeValue.FromNumber(2))),
                new OrFilter([Eq("source", "hr"), Eq("tags", "🙂")]),
            ];
            foreach (var filter in filters)
            {
                var result = await store.SearchAsync(new ChunkQuery(Vector(0), filter, Top: 10), CancellationToken.None);
                var expected = chunks.Where(c => FilterEvaluator.Matches(filter, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal);
                Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal));
            }
        }
        finally
        {
            await client.DeleteIndexAsync(indexName);
        }
    }

    private static ComparisonFilter Eq(string attribute, string value) => new(attribute, ComparisonOperator.Equal, AttributeValue.FromString(value));

    private static float[] Vector(int i)
    {
        var vector = new float[4];
        vector[i % 4] = 1;
        return vector;
    }

    private static Chunk Make(string id, string source, string label, Action<AttributeSetBuilder> attributes)
    {
        var builder = new AttributeSetBuilder();
        attributes(builder);
        return new Chunk { Id = id, DocumentId = "doc-" + id, Source = source, Label = LabelTaxonomy.Default.Get(label), Text = "text of " + id, Attributes = builder.Build() };
    }
}
