using CopilotGuard.Anonymization;
using CopilotGuard.Anonymization.Ner;
using Xunit.Abstractions;

namespace CopilotGuard.Tests.Anonymization;

/// <summary>The learned PERSON/LOCATION/ORGANIZATION tagger: tokenizer, features, scorer, corpus split, training determinism and the shipped model's accuracy on the untouched test split.</summary>
public sealed class NerTests(ITestOutputHelper output)
{
    private static readonly string CorpusPath = Path.Combine(AppContext.BaseDirectory, "Anonymization", "Data", "ner", "en_ewt-ud-dev.iob2");

    [Fact]
    public void Tokenizer_KeepsInnerPunctuationAndInitials()
    {
        const string text = "Dr. J. O'Neil met AT&T in the U.S. today, at 9:30.";
        var tokens = new List<TokenRange>();
        NerTokenizer.Tokenize(text, tokens);
        string[] words = [.. tokens.Select(t => text[t.Start..t.End])];
        Assert.Equal(["Dr", ".", "J.", "O'Neil", "met", "AT&T", "in", "the", "U.S.", "today", ",", "at", "9", ":", "30", "."], words);
    }

    [Fact]
    public void Features_AreCaseInsensitiveForWordsAndSensitiveToShape()
    {
        Assert.Equal(NerFeatures.HashLower("Smith"), NerFeatures.HashLower("SMITH"));
        Assert.NotEqual(NerFeatures.HashShape("Smith"), NerFeatures.HashShape("smith"));
        Assert.Equal(NerFeatures.HashShape("Xavier"), NerFeatures.HashShape("Jo"));      // both "Xx"
        Assert.NotEqual(NerFeatures.HashShape("A1"), NerFeatures.HashShape("Ab"));

        (List<TokenRange> tokens, TokenInfo[] info) = NerRecognizer.Prepare("Please call Maria Garcia in Madrid.");
        Assert.Equal(7, tokens.Count);
        Assert.True(info[0].SentenceStart);
        Assert.False(info[2].SentenceStart);
        Assert.Equal(1, info[2].Cap);                                              // "Maria": initial capital
        Assert.NotEqual(0, info[2].Gaz & (int)(GazFlags.Given | GazFlags.IntlGiven));
        Assert.NotEqual(0, info[5].Gaz & (int)(GazFlags.City | GazFlags.Region | GazFlags.Country));

        Span<ulong> a = stackalloc ulong[NerFeatures.MaxFeatures];
        Span<ulong> b = stackalloc ulong[NerFeatures.MaxFeatures];
        int na = NerFeatures.Static(info, 2, a);
        int nb = NerFeatures.Static(info, 2, b);
        Assert.Equal(na, nb);
        Assert.True(a[..na].SequenceEqual(b[..nb]));
        Assert.Equal(na, a[..na].ToArray().Distinct().Count());                   // no two templates collide here
        int nh = NerFeatures.History(info, 2, 0, 0, b);
        Assert.Equal(5, nh);
        Assert.True(na + nh <= NerFeatures.MaxFeatures);
    }

    [Fact]
    public void Scorer_CountsHandCheckedExample()
    {
        var scorer = new SpanScorer();
        // Gold: PERSON [0,10), LOCATION [20,30). Predicted: PERSON [0,8) (IoU 0.8, match), ORGANIZATION [20,30) (IoU 1, wrong type), PERSON [40,45) (spurious).
        scorer.Add(
            [new EntitySpan(EntityTypes.Person, 0, 10, 1), new EntitySpan(EntityTypes.Location, 20, 30, 1)],
            [new EntitySpan(EntityTypes.Person, 0, 8, 1), new EntitySpan(EntityTypes.Organization, 20, 30, 1), new EntitySpan(EntityTypes.Person, 40, 45, 1)]);
        // Below the IoU threshold: gold [50,60) vs predicted [50,54) is 0.4.
        scorer.Add([new EntitySpan(EntityTypes.Person, 50, 60, 1)], [new EntitySpan(EntityTypes.Person, 50, 54, 1)]);

        Assert.Equal((2, 2, 1), (scorer.Any.TruePositives, scorer.Any.FalsePositives, scorer.Any.FalseNegatives));
        Assert.Equal(0.5, scorer.Any.Precision, 10);
        Assert.Equal(2.0 / 3, scorer.Any.Recall, 10);
        Assert.Equal(5 * 0.5 * (2.0 / 3) / ((4 * 0.5) + (2.0 / 3)), scorer.Any.F2, 10);   // 0.625

        SpanCounts person = scorer.ByType[EntityTypes.Person];
        Assert.Equal((1, 2, 1), (person.TruePositives, person.FalsePositives, person.FalseNegatives));
        Assert.Equal((0, 0, 1), (scorer.ByType[EntityTypes.Location].TruePositives, scorer.ByType[EntityTypes.Location].FalsePositives, scorer.ByType[EntityTypes.Location].FalseNegatives));
        Assert.Equal((0, 1, 0), (scorer.ByType[EntityTypes.Organization].TruePositives, scorer.ByType[EntityTypes.Organization].FalsePositives, scorer.ByType[EntityTypes.Organization].FalseNegatives));
        Assert.Equal(1.0 / 3, SpanScorer.Iou(new EntitySpan("X", 0, 10, 1), new EntitySpan("X", 5, 15, 1)), 10);
    }

    [Fact]
    public void Scorer_MatchesOneToOne()
    {
        var scorer = new SpanScorer();
        scorer.Add([new EntitySpan(EntityTypes.Person, 0, 10, 1)], [new EntitySpan(EntityTypes.Person, 0, 10, 1), new EntitySpan(EntityTypes.Person, 1, 10, 1)]);
        Assert.Equal((1, 1, 0), (scorer.Any.TruePositives, scorer.Any.FalsePositives, scorer.Any.FalseNegatives));
    }

    [Fact]
    public void Corpus_SplitIsDisjointByDocument_AndSpansCoverTheirWords()
    {
        IReadOnlyList<GoldText> all = IobCorpus.Read(CorpusPath);
        IReadOnlyList<GoldText> train = IobCorpus.Read(CorpusPath, CorpusSplit.Train);
        IReadOnlyList<GoldText> test = IobCorpus.Read(CorpusPath, CorpusSplit.Test);
        Assert.Equal(2001, all.Count);
        Assert.Equal(all.Count, train.Count + test.Count);
        Assert.Empty(train.Select(t => t.DocumentId).Intersect(test.Select(t => t.DocumentId)));
        Assert.InRange(test.Count / (double)all.Count, 0.2, 0.4);
        Assert.Equal(966, all.Sum(t => t.Spans.Count));   // the B- tags of the file (PER 343, LOC 399, ORG 224)

        GoldText first = all[0];
        Assert.Equal("tampa bay", first.Text[first.Spans[0].Start..first.Spans[0].End]);
        Assert.Equal(EntityTypes.Location, first.Spans[0].Type);
    }

    [Fact]
    public void Training_IsDeterministic_AndTheModelRoundTrips()
    {
        List<GoldText> texts = [.. IobCorpus.Read(CorpusPath, CorpusSplit.Train).Take(150), .. TrainingTextGenerator.Generate(100, 3)];
        byte[] one = Save(NerTraining.Train(texts, 2, 42));
        byte[] two = Save(NerTraining.Train(texts, 2, 42));
        Assert.Equal(one, two);

        PerceptronModel loaded = PerceptronModel.Load(new MemoryStream(one));
        Assert.Equal(one, Save(loaded));
        const string probe = "Maria Garcia flew from Madrid to meet John Smith at Contoso Ltd.";
        var a = new List<EntitySpan>();
        var b = new List<EntitySpan>();
        new NerRecognizer(NerTraining.Train(texts, 2, 42)).Recognize(probe, a);
        new NerRecognizer(loaded).Recognize(probe, b);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Generator_IsDeterministic_AndSpansPointAtValues()
    {
        IReadOnlyList<GoldText> x = TrainingTextGenerator.Generate(50, 11);
        IReadOnlyList<GoldText> y = TrainingTextGenerator.Generate(50, 11);
        Assert.Equal(x.Select(t => t.Text), y.Select(t => t.Text));
        foreach (GoldText t in x)
        {
            foreach (EntitySpan s in t.Spans)
            {
                Assert.InRange(s.End, s.Start + 1, t.Text.Length);
                Assert.False(char.IsWhiteSpace(t.Text[s.Start]));
            }
        }
    }

    [Fact]
    public void ShippedModel_OnTheUntouchedTestSplit_StaysAboveFloor()
    {
        IReadOnlyList<GoldText> test = IobCorpus.Read(CorpusPath, CorpusSplit.Test);
        EntityAnalyzer accurate = EntityAnalyzer.CreateAccurate();
        SpanScorer scorer = NerTraining.Evaluate(test, accurate.Analyze, NerTraining.DefaultTypes);
        output.WriteLine(NerTraining.Format(scorer));
        SpanScorer baseline = NerTraining.Evaluate(test, EntityAnalyzer.CreateDefault().Analyze, NerTraining.DefaultTypes);
        output.WriteLine(NerTraining.Format(baseline));

        // Floors a little under what was measured when the model was trained (see bench/README.md).
        Assert.True(scorer.Any.F2 >= AnyF2Floor, $"type-agnostic F2 {scorer.Any.F2:F3} < {AnyF2Floor}");
        Assert.True(scorer.ByType[EntityTypes.Person].Recall >= PersonRecallFloor, $"PERSON recall {scorer.ByType[EntityTypes.Person].Recall:F3} < {PersonRecallFloor}");
        Assert.True(scorer.Any.F2 > baseline.Any.F2, "the accurate analyzer must beat the rule recognizers");
    }

    private const double AnyF2Floor = 0.70;   // measured 0.738 (2026-12-07: 1,500 generated sentences, 12 epochs)
    private const double PersonRecallFloor = 0.65;   // measured 0.678

    [Fact]
    public void AccurateAnalyzer_ExplainsWhichRecognizerFoundEachSpan()
    {
        const string text = "Send it to Maria Garcia at maria.garcia@contoso.example, she is 45 years old.";
        IReadOnlyList<EntitySpan> spans = EntityAnalyzer.CreateAccurate().Analyze(text);
        Assert.All(spans, s => Assert.False(string.IsNullOrEmpty(s.Recognizer)));
        Assert.Contains(spans, s => s.Type == EntityTypes.EmailAddress && s.Recognizer == "patterns");
        Assert.Contains(spans, s => s.Type == EntityTypes.Age && text[s.Start..s.End] == "45" && s.Recognizer == "context");
    }

    private static byte[] Save(PerceptronModel model)
    {
        using var stream = new MemoryStream();
        model.Save(stream);
        return stream.ToArray();
    }
}
