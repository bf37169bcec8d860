using BenchmarkDotNet.Attributes;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Policy;

namespace CopilotGuard.Benchmarks;

/// <summary>How the decision and the post-filter grow with the caller's entitlements: bob (support engineer, the
/// residual is <c>resource.account in principal.accounts</c>) and dana (clinician, <c>resource.patient in principal.patients</c>)
/// with 10 to 5,000 accounts, patients and groups.</summary>
[MemoryDiagnoser]
public class EntitlementBenchmarks
{
    public const int Candidates = 50;

    private PolicyBundle _bundle = null!;
    private CallerPrincipals _caller = null!;
    private FilterNode _exact = null!;
    private AttributeSet[] _chunks = [];

    [Params(10, 100, 1000, 5000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bundle = BenchData.Contoso();
        var bob = BenchData.WithEntitlements(BenchData.Person("bob"), Size);
        _caller = new CallerPrincipals(bob);
        _exact = Filters.Split(_bundle.Decide(_caller, BenchData.Internal), FilterCapabilities.All).Exact;

        // 50 candidates as a store returns them: support tickets of accounts the caller holds (found near the end of
        // the list, the worst case for a linear scan), a few of accounts it does not hold, and kb articles.
        _chunks = [.. Enumerable.Range(0, Candidates).Select(i => (i % 5) switch
        {
            0 => BenchData.SupportChunk(i, "not-assigned-" + i, 64),
            1 => new Retrieval.Chunk { Id = $"kb-{i}#0", DocumentId = $"kb-{i}", Source = "kb", Label = BenchData.Labels.TryGet("General", out var general) ? general : null!, Text = "kb" },
            _ => BenchData.SupportChunk(i, "account-" + (Size - 1 - (i % Math.Min(Size, 7))).ToString("D5", System.Globalization.CultureInfo.InvariantCulture), 64),
        }).Select(static chunk => chunk.ResourceAttributes)];
    }

    /// <summary>Partial evaluation for bob with <see cref="Size"/> accounts.</summary>
    [Benchmark]
    public FilterNode Decide() => _bundle.Decide(_caller, BenchData.Internal);

    /// <summary>The exact re-check of 50 returned chunks against the residual.</summary>
    [Benchmark]
    public int PostFilter50()
    {
        var passed = 0;
        foreach (var chunk in _chunks)
        {
            if (FilterEvaluator.Matches(_exact, chunk))
            {
                passed++;
            }
        }

        return passed;
    }
}
