using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Benchmarks;

/// <summary>Release of 10 chunks: obligations reduced for the caller, field operators, text re-rendering and
/// anonymization with the default recognizer set plus the directory dictionary, as the runtime wires it.</summary>
[MemoryDiagnoser]
public class ReleaseBenchmarks
{
    public const int ChunkCount = 10;

    private ChunkReleaser _releaser = null!;
    private PolicyBundle _bundle = null!;
    private CallerPrincipals _caller = null!;
    private AttributeSet _request = null!;
    private FilterNode _residual = null!;
    private Chunk[] _chunks = [];

    /// <summary>
    /// <c>bob-internal</c>: 10 support tickets of 1 KB for an internal model (most entity types kept);
    /// <c>bob-external</c>: the same for an external model (every entity replaced, names pseudonymized, dates generalized);
    /// <c>alice-payroll</c>: 10 payroll rows for an HR partner (salary banded, hire date to year, SSN dropped, text re-rendered);
    /// <c>erin-transactions</c>: 10 card transactions for a fraud analyst (customer id hashed, card masked, names pseudonymized).
    /// </summary>
    [Params("bob-internal", "bob-external", "alice-payroll", "erin-transactions")]
    public string Scenario { get; set; } = "bob-internal";

    [GlobalSetup]
    public async Task Setup()
    {
        _bundle = BenchData.Contoso();
        _releaser = new ChunkReleaser(BenchData.SampleAnonymizer(), RandomNumberGenerator.GetBytes(32));
        var (person, destination, source) = Scenario switch
        {
            "bob-internal" => ("bob", "internal", "support"),
            "bob-external" => ("bob", (string?)null, "support"),
            "alice-payroll" => ("alice", "internal", "payroll"),
            "erin-transactions" => ("erin", "internal", "transactions"),
            _ => throw new ArgumentException(Scenario),
        };
        _caller = new CallerPrincipals(BenchData.Person(person));
        _request = Retrieval.RetrievalBroker.RequestAttributes(null, destination);
        _residual = _bundle.Decide(_caller, _request);
        _chunks = source == "support"
            ? [.. Enumerable.Range(0, ChunkCount).Select(static i => BenchData.SupportChunk(i, i % 2 == 0 ? "contoso-retail" : "fabrikam"))]
            : [.. (await BenchData.SampleCorpusAsync()).Where(c => c.Source == source).Take(ChunkCount)];
        if (_chunks.Length != ChunkCount)
        {
            throw new InvalidOperationException($"only {_chunks.Length} {source} chunks in the sample corpus");
        }
    }

    /// <summary>Gets how many characters of text one invocation releases.</summary>
    public int Characters => _chunks.Sum(static c => c.Text.Length);

    [Benchmark]
    public int Release10()
    {
        var plan = _releaser.Plan(_bundle, _caller, _request, _residual, "bob\u001fconversation-1");
        var length = 0;
        foreach (var chunk in _chunks)
        {
            length += plan.Release(chunk).Chunk.Text.Length;
        }

        return length;
    }
}
