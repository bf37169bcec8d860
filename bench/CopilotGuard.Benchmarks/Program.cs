using System.Diagnostics;
using BenchmarkDotNet.Running;
using CopilotGuard.Benchmarks;

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
