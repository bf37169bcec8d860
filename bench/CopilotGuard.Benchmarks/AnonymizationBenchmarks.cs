using BenchmarkDotNet.Attributes;
using CopilotGuard.Anonymization;
using Microsoft.Recognizers.Text;
using Microsoft.Recognizers.Text.Sequence;

namespace CopilotGuard.Benchmarks;

/// <summary>CopilotGuard's detector vs Microsoft.Recognizers.Text sequence recognizers on the same corpus.</summary>
[MemoryDiagnoser]
public class AnonymizationBenchmarks
{
    public const int CorpusSize = 64 * 1024;

    // Several corpora, used round-robin: Microsoft.Recognizers.Text caches results per input text, so one repeated text
    // would measure its cache rather than its recognizers.
    private string[] _texts = [];
    private int _next;
    private EntityAnalyzer _patterns = null!;
    private EntityAnalyzer _full = null!;
    private IModel[] _mrt = [];

    [GlobalSetup]
    public void Setup()
    {
        _texts = [.. Enumerable.Range(0, 64).Select(seed => Corpus.Build(CorpusSize, seed))];
        _patterns = new EntityAnalyzer([PatternRecognizer.CreateDefault()]);
        _full = EntityAnalyzer.CreateDefault(DictionaryRecognizer.Create([("Jane Doe", EntityTypes.Person, "u1"), ("Robert Johnson", EntityTypes.Person, "u2")]));
        var recognizer = new SequenceRecognizer(Culture.English);
        _mrt = [recognizer.GetEmailModel(), recognizer.GetPhoneNumberModel(), recognizer.GetIpAddressModel(), recognizer.GetURLModel(), recognizer.GetGUIDModel()];
        _ = PatternsOnly();
        _ = DefaultSet();
    }

    /// <summary>The built-in pattern recognizers (all Presidio pattern types + GUID, AGE).</summary>
    [Benchmark(Baseline = true)]
    public int PatternsOnly() => _patterns.Analyze(NextText()).Count;

    /// <summary>Patterns + rule-and-gazetteer names + a dictionary recognizer.</summary>
    [Benchmark]
    public int DefaultSet() => _full.Analyze(NextText()).Count;

    /// <summary>Microsoft.Recognizers.Text: email, phone, IP, URL and GUID models.</summary>
    [Benchmark]
    public int RecognizersText()
    {
        int n = 0;
        string text = NextText();
        foreach (IModel model in _mrt)
        {
            n += model.Parse(text).Count;
        }

        return n;
    }

    internal string Text => _texts[0];

    private string NextText() => _texts[_next++ & 63];
}
