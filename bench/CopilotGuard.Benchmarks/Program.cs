using System.Diagnostics;
using BenchmarkDotNet.Running;
using CopilotGuard.Benchmarks;

if (args.Length > 0 && args[0] == "--audit-quick")
{
    // Durable appends per second, Stopwatch only; the BenchmarkDotNet run (--filter *AuditBenchmarks*) is the reference.
    foreach (var (batch, concurrency) in new[] { (1, 1), (1, 64), (512, 1), (512, 64) })
    {
        var bench = new AuditBenchmarks { MaxBatchSize = batch, Concurrency = concurrency };
        await bench.Setup();
        var id = 0;
        await AuditBenchmarks.RunAsync(bench.Log, concurrency, 64, () => Interlocked.Increment(ref id));
        const int count = 2048;
        var sw = Stopwatch.StartNew();
        await AuditBenchmarks.RunAsync(bench.Log, concurrency, count, () => Interlocked.Increment(ref id));
        sw.Stop();
        Console.WriteLine($"batch {batch,3}, {concurrency,2} callers: {count / sw.Elapsed.TotalSeconds,8:F0} durable appends/s, {sw.Elapsed.TotalMilliseconds * concurrency / count,6:F2} ms per append as seen by a caller");
        await bench.Cleanup();
    }

    return;
}

if (args.Length > 0 && args[0] == "--audit-latency")
{
    // One caller's durable append latency: the audit log vs a bare SQLite commit vs a raw fdatasync; optional count (default 5,000).
    await AuditLatencyRun.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5000).ConfigureAwait(false);
    return;
}

if (args.Length > 0 && args[0] == "--audit-postgresql")
{
    // Durable appends per second on a throwaway PostgreSQL cluster (fsync and synchronous_commit on); optional seconds per row and callers.
    await PostgreSqlAuditRun.RunAsync(
        args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 64).ConfigureAwait(false);
    return;
}

if (args.Length > 0 && args[0] == "--pipeline")
{
    // Per-retrieval p50/p95/p99 of the in-process broker; optional seconds per row (default 3), audit kinds
    // (memory,sqlite-group) and caller counts (1,4,16,64).
    await PipelineLatencyRun.RunAsync(
        args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3,
        args.Length > 2 ? args[2].Split(',') : null,
        args.Length > 3 ? args[3].Split(',').Select(static s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : null).ConfigureAwait(false);
    return;
}

if (args.Length > 0 && args[0] == "--scaling")
{
    // Corpus sizes (comma-separated, default 1000,10000; add 100000 explicitly) and retrievals per row (default 40).
    var sizes = args.Length > 1 ? args[1].Split(',').Select(static s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : [1_000, 10_000];
    await ScalingRun.RunAsync(sizes, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 40).ConfigureAwait(false);
    return;
}

if (args.Length > 0 && args[0] == "--quick")
{
    // A Stopwatch run for a quick look; the BenchmarkDotNet run is the reference.
    var b = new AnonymizationBenchmarks();
    b.Setup();
    double mb = b.Text.Length / 1_000_000.0;
    foreach ((string name, Func<int> run, int reps) in new (string, Func<int>, int)[]
    {
        ("CopilotGuard patterns (warm-up)", b.PatternsOnly, 400),
        ("CopilotGuard patterns", b.PatternsOnly, 1000),
        ("CopilotGuard default set (patterns + names + dictionary)", b.DefaultSet, 200),
        ("Microsoft.Recognizers.Text (email, phone, ip, url, guid)", b.RecognizersText, 3),
    })
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        int found = 0;
        for (int i = 0; i < reps; i++)
        {
            found = run();
        }

        sw.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"{name}: {mb * reps / sw.Elapsed.TotalSeconds:F2} MB/s, {allocated / (double)reps / (b.Text.Length / 1024.0):F0} B allocated per KB, {found} entities");
    }

    return;
}

BenchmarkSwitcher.FromAssembly(typeof(AnonymizationBenchmarks).Assembly).Run(args);
