using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using CopilotGuard.Anonymization;
using Microsoft.Recognizers.Text;
using Microsoft.Recognizers.Text.Sequence;

namespace CopilotGuard.Benchmarks;

/// <summary>CopilotGuard's detector vs Microsoft.Recognizers.Text sequence recognizers on the same corpus.</summary>
/// <remarks>The MB/s and B/KB columns are computed from the mean time and the allocations per call over <see cref="CorpusSize"/> characters.</remarks>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class AnonymizationBenchmarks
{
    public const int CorpusSize = 64 * 1024;

    // Several corpora, used round-robin: Microsoft.Recognizers.Text caches results per input text, so one repeated text
    // would measure its cache rather than its recognizers.
    private string[] _texts = [];
    private int _next;
    private EntityAnalyzer _patterns = null!;
    private EntityAnalyzer _full = null!;
    private EntityAnalyzer _accurate = null!;
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
        _accurate = EntityAnalyzer.CreateAccurate(DictionaryRecognizer.Create([("Jane Doe", EntityTypes.Person, "u1"), ("Robert Johnson", EntityTypes.Person, "u2")]));
        _ = DefaultSet();
        _ = AccurateSet();
    }

    /// <summary>The built-in pattern recognizers (all Presidio pattern types + GUID, AGE).</summary>
    [Benchmark(Baseline = true)]
    public int PatternsOnly() => _patterns.Analyze(NextText()).Count;

    /// <summary>Patterns + rule-and-gazetteer names + a dictionary recognizer.</summary>
    [Benchmark]
    public int DefaultSet() => _full.Analyze(NextText()).Count;

    /// <summary>The accurate (command-line / ingestion) set: patterns + context recognizers + the NER tagger + a dictionary recognizer.</summary>
    [Benchmark]
    public int AccurateSet() => _accurate.Analyze(NextText()).Count;

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

    /// <summary>Adds the throughput and allocation-per-KB columns.</summary>
    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig()
        {
            AddColumn(new PerCorpusColumn("MB/s", "Characters (= bytes, ASCII corpus) scanned per second, in millions, from the mean", static (s, c) =>
                s[c]?.ResultStatistics is { } stats ? CorpusSize / stats.Mean * 1000.0 : double.NaN));
            AddColumn(new PerCorpusColumn("B/KB", "Bytes allocated per KB of text", static (s, c) =>
                s[c] is { } report ? report.GcStats.GetBytesAllocatedPerOperation(c) / (CorpusSize / 1024.0) ?? double.NaN : double.NaN));
        }
    }

    /// <summary>A column computed from a benchmark's report and the corpus size.</summary>
    private sealed class PerCorpusColumn(string name, string legend, Func<Summary, BenchmarkCase, double> value) : IColumn
    {
        public string Id => "PerCorpus." + name;

        public string ColumnName => name;

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => legend;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
            value(summary, benchmarkCase).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
