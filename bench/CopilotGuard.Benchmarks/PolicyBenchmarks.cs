using BenchmarkDotNet.Attributes;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Policy;
using CopilotGuard.Testing;

namespace CopilotGuard.Benchmarks;

/// <summary>Policy decision = partial evaluation of every rule to the residual over <c>resource.*</c>, then the split
/// into the pushed and the exact filter, for bundles of 10 to 100 rules.</summary>
[MemoryDiagnoser]
public class PolicyBenchmarks
{
    private PolicyBundle _bundle = null!;
    private CallerPrincipals _caller = null!;
    private Filtering.AttributeSet _request = null!;

    /// <summary><c>contoso-16</c>: the sample bundle; <c>grown-100</c>: it plus generated realistic rules;
    /// <c>random-10</c> / <c>random-100</c>: RandomScenarios bundles (nested, hostile values, every operator).</summary>
    [Params("contoso-16", "grown-100", "random-10", "random-100")]
    public string Bundle { get; set; } = "contoso-16";

    /// <summary><c>bob</c> alone, or <c>ticket-agent</c> acting for bob (both principals are decided).</summary>
    [Params("bob", "agent+bob")]
    public string Caller { get; set; } = "bob";

    [GlobalSetup]
    public void Setup()
    {
        var scenarios = new RandomScenarios(7);
        _bundle = Bundle switch
        {
            "contoso-16" => BenchData.Contoso(),
            "grown-100" => BenchData.ContosoGrown(100),
            "random-10" => scenarios.Policy(10),
            "random-100" => scenarios.Policy(100),
            _ => throw new ArgumentException(Bundle),
        };
        var random = Bundle.StartsWith("random", StringComparison.Ordinal);
        var bob = random ? scenarios.Principal("bob", PrincipalKind.User) : BenchData.Person("bob");
        var agent = random ? scenarios.Principal("ticket-agent", PrincipalKind.Agent) : BenchData.Person("ticket-agent");
        _caller = Caller == "bob" ? new CallerPrincipals(bob) : new CallerPrincipals(bob, agent);
        _request = BenchData.Internal;
    }

    [Benchmark]
    public FilterNode Decide() => _bundle.Decide(_caller, _request);

    [Benchmark]
    public FilterNode DecideAndSplit() => Filters.Split(_bundle.Decide(_caller, _request), FilterCapabilities.All).Exact;
}
