using System.Diagnostics;
using System.Globalization;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Benchmarks;

/// <summary>Per-retrieval latency percentiles of the in-process broker (10 chunks of 1 KB, in-memory store and
/// embedder), with in-memory or durable group-committed audit, at several concurrencies. BenchmarkDotNet reports
/// means; the target is a p99, so this run times every operation.</summary>
internal static class PipelineLatencyRun
{
    public static async Task RunAsync(double seconds, IReadOnlyList<string>? audits = null, IReadOnlyList<int>? callerCounts = null)
    {
        Console.WriteLine($"Broker pipeline, 10 chunks of 1 KB, bob, internal destination; {seconds:F0} s per row after 1 s warm-up; {Environment.ProcessorCount} cores");
        await using (var warm = await PipelineFixture.CreateAsync(new FixedChunkStore(PipelineFixture.TenTicketsForBob()), "memory").ConfigureAwait(false))
        {
            // Past tiered JIT (tier 0, OSR, tier 1 with PGO) before the first row.
            await Drive(warm.Broker, PipelineFixture.BobRequest(), 1, TimeSpan.FromSeconds(4)).ConfigureAwait(false);
        }

        Console.WriteLine("| audit | callers | retrievals/s | p50 ms | p95 ms | p99 ms | broker-only p99 ms | allocated/retrieval | GC pause ms per s | gen0/gen1/gen2 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var audit in audits ?? ["memory", "sqlite-group"])
        {
            foreach (var callers in callerCounts ?? [1, 4, 16, 64])
            {
                await using var fixture = await PipelineFixture.CreateAsync(new FixedChunkStore(PipelineFixture.TenTicketsForBob()), audit).ConfigureAwait(false);
                var request = PipelineFixture.BobRequest();
                await Drive(fixture.Broker, request, callers, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var pause = GC.GetTotalPauseDuration();
                var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
                var sw = Stopwatch.StartNew();
                var samples = await Drive(fixture.Broker, request, callers, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
                sw.Stop();
                allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
                pause = GC.GetTotalPauseDuration() - pause;
                (gen0, gen1, gen2) = (GC.CollectionCount(0) - gen0, GC.CollectionCount(1) - gen1, GC.CollectionCount(2) - gen2);
                var total = samples.Select(static s => s.Total).Order().ToArray();
                var brokerOnly = samples.Select(static s => s.Total - s.EmbedAndStore).Order().ToArray();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {audit} | {callers} | {samples.Count / sw.Elapsed.TotalSeconds:F0} | {Percentile(total, 0.50):F3} | {Percentile(total, 0.95):F3} | {Percentile(total, 0.99):F3} | {Percentile(brokerOnly, 0.99):F3} | {allocated / (double)samples.Count / 1024:F1} KB | {pause.TotalMilliseconds / sw.Elapsed.TotalSeconds:F1} | {gen0}/{gen1}/{gen2} |"));
            }
        }
    }

    private static async Task<List<(double Total, double EmbedAndStore)>> Drive(RetrievalBroker broker, RetrievalRequest request, int callers, TimeSpan duration)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perWorker = await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            var samples = new List<(double, double)>(4096);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var start = Stopwatch.GetTimestamp();
                var result = await broker.RetrieveAsync(request, CancellationToken.None).ConfigureAwait(false);
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                var timings = result.Record.Timings!;
                samples.Add((elapsed, timings.Embedding + timings.Store));
            }

            return samples;
        }))).ConfigureAwait(false);
        return [.. perWorker.SelectMany(static s => s)];
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
