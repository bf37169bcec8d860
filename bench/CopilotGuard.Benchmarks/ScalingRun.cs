using System.Diagnostics;
using System.Globalization;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Benchmarks;

/// <summary>Retrieval latency against corpus size (SQLite store, exact vector search in process) and against the
/// caller's entitlement size. Chunks are synthetic (1 KB of prose, random 384-d unit vectors, written straight through
/// <see cref="SqliteChunkStore.UpsertAsync"/>): 10% kb articles (General, visible to every user), 90% support tickets
/// spread over 10,000 accounts, so a caller holding N accounts may see about N/10,000 of the tickets.</summary>
internal static class ScalingRun
{
    private const int AccountPool = 10_000;
    private const int Dimensions = 384;

    public static async Task RunAsync(IReadOnlyList<int> corpusSizes, int requestsPerRow)
    {
        Console.WriteLine($"Scaling: SQLite store, broker with deterministic embedder and in-memory audit, top 10, {requestsPerRow} retrievals per row after 5 warm-up; {Environment.ProcessorCount} cores");
        Console.WriteLine("| chunks | accounts held | visible chunks | p50 ms | p95 ms | store p50 ms | store p95 ms | broker-only p50 ms | broker-only p95 ms |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var texts = Enumerable.Range(0, 64).Select(static seed => Corpus.Build(1024, seed)[..1000]).ToArray();
        foreach (var size in corpusSizes)
        {
            var folder = Directory.CreateTempSubdirectory("copilotguard-scaling-").FullName;
            try
            {
                // Every retrieval runs its filter in SQL (no cached filter results): the run repeats a few callers, and the cache
                // would measure lookups, not how the filter's cost grows with corpus and entitlement size.
                using var store = new SqliteChunkStore(Path.Combine(folder, "store.db"), BenchData.Labels, maxCachedFilterResults: 0);
                await store.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
                var ingest = Stopwatch.StartNew();
                var random = new Random(size);
                var general = BenchData.Labels.TryGet("General", out var g) ? g : throw new InvalidOperationException();
                var confidential = BenchData.Labels.TryGet("Confidential", out var c) ? c : throw new InvalidOperationException();
                for (var start = 0; start < size; start += 2000)
                {
                    var batch = new List<StoredChunk>(2000);
                    for (var i = start; i < Math.Min(size, start + 2000); i++)
                    {
                        var kb = i % 10 == 0;
                        var chunk = new Chunk
                        {
                            Id = $"c{i:D7}#0",
                            DocumentId = $"d{i:D7}",
                            Source = kb ? "kb" : "support",
                            Label = kb ? general : confidential,
                            Title = $"Synthetic {i}",
                            Text = $"[{i}] " + texts[i % texts.Length],
                            Attributes = kb
                                ? new AttributeSetBuilder().Add("tags", "howto").Build()
                                : new AttributeSetBuilder().Add("account", "account-" + random.Next(AccountPool).ToString("D5", CultureInfo.InvariantCulture)).Add("tags", "ticket").Build(),
                        };
                        batch.Add(new StoredChunk(chunk, DeterministicEmbedder.RandomUnitVector(random, Dimensions)));
                    }

                    await store.UpsertAsync(batch, CancellationToken.None).ConfigureAwait(false);
                }

                ingest.Stop();
                Console.Error.WriteLine($"  ingested {size} chunks in {ingest.Elapsed.TotalSeconds:F1} s ({size / ingest.Elapsed.TotalSeconds:F0} chunks/s)");
                foreach (var held in new[] { 10, 100, 1000, 5000 })
                {
                    var bob = BenchData.WithEntitlements(BenchData.Person("bob"), held);
                    await using var fixture = await PipelineFixture.CreateAsync(store, "memory", new FixedEntitlements([bob])).ConfigureAwait(false);
                    var residual = fixture.Broker.Policy.Decide(new CallerPrincipals(bob), BenchData.Internal);
                    var visible = await CountVisibleAsync(store, residual, size).ConfigureAwait(false);
                    var total = new List<double>();
                    var storeMs = new List<double>();
                    var brokerOnly = new List<double>();
                    for (var r = -5; r < requestsPerRow; r++)
                    {
                        var request = PipelineFixture.BobRequest() with { Query = $"query {r} about ticket sync {random.Next()}" };
                        var startedAt = Stopwatch.GetTimestamp();
                        var result = await fixture.Broker.RetrieveAsync(request, CancellationToken.None).ConfigureAwait(false);
                        var elapsed = Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds;
                        if (r < 0)
                        {
                            continue;
                        }

                        var timings = result.Record.Timings!;
                        total.Add(elapsed);
                        storeMs.Add(timings.Store);
                        brokerOnly.Add(elapsed - timings.Store - timings.Embedding);
                    }

                    double P(List<double> values, double p) => PipelineLatencyRun.Percentile([.. values.Order()], p);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {size:N0} | {held:N0} | {visible:N0} | {P(total, .5):F2} | {P(total, .95):F2} | {P(storeMs, .5):F2} | {P(storeMs, .95):F2} | {P(brokerOnly, .5):F3} | {P(brokerOnly, .95):F3} |"));
                }
            }
            finally
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static async Task<long> CountVisibleAsync(SqliteChunkStore store, FilterNode residual, int size)
    {
        var result = await store.SearchAsync(new ChunkQuery(DeterministicEmbedder.VectorFor("count", Dimensions), residual, size), CancellationToken.None).ConfigureAwait(false);
        return result.Chunks.Count;
    }
}
