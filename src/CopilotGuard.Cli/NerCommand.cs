using System.CommandLine;
using System.Text.Json;
using CopilotGuard.Anonymization;
using CopilotGuard.Anonymization.Ner;

namespace CopilotGuard.Cli;

/// <summary>The <c>ner</c> verb: train the sequence tagger and measure analyzers on gold text.</summary>
internal static class NerCommand
{
    private const string DefaultCorpus = "tests/CopilotGuard.Tests/Anonymization/Data/ner/en_ewt-ud-dev.iob2";

    public static Command Build(Option<bool> json)
    {
        var command = new Command("ner", "Train the PERSON/LOCATION/ORGANIZATION sequence tagger and score analyzers on gold text (span level, IoU >= 0.5).");
        command.Subcommands.Add(Train());
        command.Subcommands.Add(Eval(json));
        command.Subcommands.Add(CrossValidate());
        return command;
    }

    private static Option<string> CorpusOption() => new("--corpus") { Description = "The gold IOB2 file (UNER English-EWT).", DefaultValueFactory = _ => DefaultCorpus };

    private static Command Train()
    {
        var corpus = CorpusOption();
        var split = new Option<CorpusSplit>("--split") { Description = "Which documents to learn from: Train (the shipped model) or DevTrain (to choose settings on Dev). Never Test.", DefaultValueFactory = _ => CorpusSplit.Train };
        var generated = new Option<int>("--generated") { Description = "How many generated template sentences to add.", DefaultValueFactory = _ => 1500 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data.", DefaultValueFactory = _ => 12 };
        var seed = new Option<int>("--seed") { Description = "The seed of the generator and the shuffle.", DefaultValueFactory = _ => 20261207 };
        var output = new Option<string>("--out") { Description = "Where to write the gzip'd model.", DefaultValueFactory = _ => "src/CopilotGuard/Anonymization/Data/ner-model.txt.gz" };
        var command = new Command("train", "Train the averaged-perceptron tagger deterministically (fixed seed, fixed order).") { corpus, split, generated, epochs, seed, output };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            CorpusSplit chosen = parse.GetValue(split);
            if (chosen is CorpusSplit.Test or CorpusSplit.All or CorpusSplit.Dev)
            {
                await Console.Error.WriteLineAsync("copilotguard: the tagger learns only from Train or DevTrain; Test and Dev stay untouched.").ConfigureAwait(false);
                return 2;
            }

            var texts = new List<GoldText>(IobCorpus.Read(parse.GetValue(corpus)!, chosen));
            int real = texts.Count;
            texts.AddRange(TrainingTextGenerator.Generate(parse.GetValue(generated), parse.GetValue(seed)));
            Console.WriteLine($"training on {real} gold sentences ({chosen}) and {texts.Count - real} generated ones");
            PerceptronModel model = NerTraining.Train(texts, parse.GetValue(epochs), parse.GetValue(seed), log: Console.WriteLine);
            string path = parse.GetValue(output)!;
            await using (var file = File.Create(path))
            {
                model.Save(file);
            }

            Console.WriteLine($"{model.FeatureCount} features, {new FileInfo(path).Length / 1024.0:F0} KB -> {path}");
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Eval(Option<bool> json)
    {
        var corpus = CorpusOption();
        var split = new Option<CorpusSplit>("--split") { Description = "Which documents to score: Test (untouched, for reported numbers) or Dev.", DefaultValueFactory = _ => CorpusSplit.Test };
        var analyzer = new Option<string>("--analyzer") { Description = "default (query-time set), accurate (CLI/ingestion set), names (rule recognizer alone) or ner (tagger alone).", DefaultValueFactory = _ => "accurate" };
        var model = new Option<string?>("--model") { Description = "A model file to use instead of the embedded one." };
        var generated = new Option<int>("--generated") { Description = "Score a generated set of this many sentences (seed 7, not a training seed) instead of the corpus.", DefaultValueFactory = _ => 0 };
        var command = new Command("eval", "Score an analyzer on the gold corpus split (PERSON, LOCATION, ORGANIZATION).") { corpus, split, analyzer, model, generated };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            NerRecognizer? ner = parse.GetValue(model) is { } path ? new NerRecognizer(LoadModel(path)) : null;
            EntityAnalyzer chosen = parse.GetValue(analyzer) switch
            {
                "default" => EntityAnalyzer.CreateDefault(),
                "names" => new EntityAnalyzer([NameRecognizer.Default]),
                "ner" => new EntityAnalyzer([ner ?? NerRecognizer.Default]),
                "accurate" => ner is null ? EntityAnalyzer.CreateAccurate() : new EntityAnalyzer([PatternRecognizer.CreateDefault(), ner, .. AccurateExtras()]),
                var other => throw new ArgumentException($"unknown analyzer '{other}'"),
            };

            int count = parse.GetValue(generated);
            IReadOnlyList<GoldText> texts = count > 0 ? TrainingTextGenerator.Generate(count, 7) : IobCorpus.Read(parse.GetValue(corpus)!, parse.GetValue(split));
            SpanScorer scorer = NerTraining.Evaluate(texts, chosen.Analyze, NerTraining.DefaultTypes);
            string what = count > 0 ? $"generated set ({count} sentences, seed 7)" : $"{Path.GetFileName(parse.GetValue(corpus))} split {parse.GetValue(split)} ({texts.Count} sentences)";
            if (parse.GetValue(json))
            {
                var rows = new Dictionary<string, object> { ["any"] = Row(scorer.Any) };
                foreach (var t in scorer.ByType)
                {
                    rows[t.Key] = Row(t.Value);
                }

                Console.WriteLine(JsonSerializer.Serialize(new { set = what, analyzer = parse.GetValue(analyzer), scores = rows }, CliApp.Json));
            }
            else
            {
                Console.WriteLine($"{what}, analyzer {parse.GetValue(analyzer)}");
                Console.WriteLine(NerTraining.Format(scorer));
            }

            await Task.CompletedTask.ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    /// <summary>What the accurate analyzer runs next to the patterns and the tagger (kept equal to <see cref="EntityAnalyzer.CreateAccurate"/>).</summary>
    /// <remarks>Adding <see cref="NameRecognizer"/> as well was tried in cross-validation and gained nothing (its hits are already tagger features).</remarks>
    private static IEntityRecognizer[] AccurateExtras() => [ContextRecognizer.Default];

    /// <summary>7-fold cross-validation over the train split's buckets: how settings are chosen without touching the test split.</summary>
    private static Command CrossValidate()
    {
        var corpus = CorpusOption();
        var generated = new Option<int>("--generated") { Description = "How many generated template sentences to add to each fold's training data.", DefaultValueFactory = _ => 1500 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data.", DefaultValueFactory = _ => 12 };
        var seed = new Option<int>("--seed") { Description = "The seed of the generator and the shuffle.", DefaultValueFactory = _ => 20261207 };
        var errors = new Option<string?>("--errors") { Description = "Write each fold's missed and spurious spans (type-agnostic) to this file, for error analysis." };
        var keepAll = new Option<bool>("--keep-lowercase") { Description = "Keep the tagger's all-lower-case spans that no list supports (dropped by default)." };
        var command = new Command("cv", "Cross-validate the tagger on the train split (7 folds by document bucket); the test split is not read.") { corpus, generated, epochs, seed, errors, keepAll };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            IReadOnlyList<GoldText> train = IobCorpus.Read(parse.GetValue(corpus)!, CorpusSplit.Train);
            IReadOnlyList<GoldText> extra = TrainingTextGenerator.Generate(parse.GetValue(generated), parse.GetValue(seed));
            var scorer = new SpanScorer(0.5, NerTraining.DefaultTypes);
            var rules = new SpanScorer(0.5, NerTraining.DefaultTypes);
            var names = new EntityAnalyzer([PatternRecognizer.CreateDefault(), NameRecognizer.Default]);
            using StreamWriter? log = parse.GetValue(errors) is { } errorPath ? new StreamWriter(errorPath) : null;
            for (int fold = 0; fold <= 6; fold++)
            {
                List<GoldText> learn = [.. train.Where(t => IobCorpus.Bucket(t.DocumentId) != fold), .. extra];
                PerceptronModel model = NerTraining.Train(learn, parse.GetValue(epochs), parse.GetValue(seed));
                var analyzer = new EntityAnalyzer([PatternRecognizer.CreateDefault(), new NerRecognizer(model, !parse.GetValue(keepAll)), .. AccurateExtras()]);
                foreach (GoldText text in train.Where(t => IobCorpus.Bucket(t.DocumentId) == fold))
                {
                    IReadOnlyList<EntitySpan> predicted = analyzer.Analyze(text.Text);
                    scorer.Add(text.Spans, predicted);
                    rules.Add(text.Spans, names.Analyze(text.Text));
                    if (log is not null)
                    {
                        var kept = predicted.Where(p => NerTraining.DefaultTypes.Contains(p.Type)).ToList();
                        foreach (EntitySpan g in text.Spans.Where(g => !kept.Any(p => SpanScorer.Iou(g, p) >= 0.5)))
                        {
                            log.WriteLine($"FN\t{g.Type}\t{text.Text[g.Start..g.End]}\t{text.Text}");
                        }

                        foreach (EntitySpan p in kept.Where(p => !text.Spans.Any(g => SpanScorer.Iou(g, p) >= 0.5)))
                        {
                            log.WriteLine($"FP\t{p.Type}\t{text.Text[p.Start..p.End]}\t{text.Text}");
                        }
                    }
                }
            }

            Console.WriteLine("rule recognizers (patterns + names), train split:");
            Console.WriteLine(NerTraining.Format(rules));
            Console.WriteLine("tagger, 7-fold cross-validation on the train split:");
            Console.WriteLine(NerTraining.Format(scorer));
            await Task.CompletedTask.ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static object Row(SpanCounts c) => new
    {
        gold = c.Gold,
        tp = c.TruePositives,
        fp = c.FalsePositives,
        fn = c.FalseNegatives,
        precision = Math.Round(c.Precision, 4),
        recall = Math.Round(c.Recall, 4),
        f2 = Math.Round(c.F2, 4),
    };

    private static PerceptronModel LoadModel(string path)
    {
        using var stream = File.OpenRead(path);
        return PerceptronModel.Load(stream);
    }
}
