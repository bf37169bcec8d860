using System.Globalization;
using System.Text;

namespace CopilotGuard.Anonymization.Ner;

/// <summary>Trains the perceptron tagger and scores analyzers on gold texts.</summary>
public static class NerTraining
{
    /// <summary>The entity types the shipped tagger learns, in label order.</summary>
    public static readonly IReadOnlyList<string> DefaultTypes = [EntityTypes.Person, EntityTypes.Location, EntityTypes.Organization];

    /// <summary>Trains a model: the texts are tokenized and described once, then visited <paramref name="epochs"/> times in an order shuffled by <paramref name="seed"/>.</summary>
    /// <param name="texts">The gold texts (gold spans of other types are ignored).</param>
    /// <param name="epochs">The number of passes.</param>
    /// <param name="seed">The shuffle seed.</param>
    /// <param name="types">The entity types to learn; <see cref="DefaultTypes"/> when <see langword="null"/>.</param>
    /// <param name="log">Receives one line per epoch.</param>
    /// <returns>The averaged model; training the same texts with the same settings gives the same model.</returns>
    public static PerceptronModel Train(IReadOnlyList<GoldText> texts, int epochs, int seed, IReadOnlyList<string>? types = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        types ??= DefaultTypes;
        var data = new List<(TokenInfo[] Info, int[] Gold)>(texts.Count);
        foreach (GoldText text in texts)
        {
            (List<TokenRange> tokens, TokenInfo[] info) = NerRecognizer.Prepare(text.Text);
            if (tokens.Count > 0)
            {
                data.Add((info, GoldLabels(tokens, text.Spans, types)));
            }
        }

        var trainer = new PerceptronTrainer(types);
        var random = new Random(seed);
        int[] order = [.. Enumerable.Range(0, data.Count)];
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            random.Shuffle(order);
            int errors = 0, tokens = 0;
            foreach (int k in order)
            {
                errors += trainer.Train(data[k].Info, data[k].Gold);
                tokens += data[k].Gold.Length;
            }

            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch}: {errors} of {tokens} tokens wrong ({100.0 * errors / Math.Max(1, tokens):F2}%)"));
        }

        return trainer.Build();
    }

    /// <summary>Labels tokens from gold spans: B- for the first token starting inside a span, I- for the next ones, O elsewhere.</summary>
    /// <param name="tokens">The tokens.</param>
    /// <param name="spans">The gold spans.</param>
    /// <param name="types">The types, in label order.</param>
    /// <returns>The labels.</returns>
    internal static int[] GoldLabels(List<TokenRange> tokens, IReadOnlyList<EntitySpan> spans, IReadOnlyList<string> types)
    {
        var labels = new int[tokens.Count];
        foreach (EntitySpan span in spans)
        {
            int type = -1;
            for (int t = 0; t < types.Count; t++)
            {
                if (string.Equals(types[t], span.Type, StringComparison.Ordinal))
                {
                    type = t;
                }
            }

            if (type < 0)
            {
                continue;
            }

            bool first = true;
            for (int i = 0; i < tokens.Count; i++)
            {
                if (tokens[i].Start >= span.Start && tokens[i].Start < span.End)
                {
                    labels[i] = first ? 1 + (2 * type) : 2 + (2 * type);
                    first = false;
                }
            }
        }

        return labels;
    }

    /// <summary>Runs <paramref name="analyze"/> over the texts and scores its spans of <paramref name="types"/> against the gold spans.</summary>
    /// <param name="texts">The gold texts.</param>
    /// <param name="analyze">The analyzer under test.</param>
    /// <param name="types">The types to score (predictions of other types are ignored); every type when <see langword="null"/>.</param>
    /// <returns>The scorer with its counts.</returns>
    public static SpanScorer Evaluate(IEnumerable<GoldText> texts, Func<string, IReadOnlyList<EntitySpan>> analyze, IEnumerable<string>? types = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(analyze);
        var scorer = new SpanScorer(0.5, types);
        foreach (GoldText text in texts)
        {
            scorer.Add(text.Spans, analyze(text.Text));
        }

        return scorer;
    }

    /// <summary>Formats a scorer's counts as a Markdown table (type-agnostic row first).</summary>
    /// <param name="scorer">The scorer.</param>
    /// <returns>The table.</returns>
    public static string Format(SpanScorer scorer)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        var sb = new StringBuilder();
        sb.AppendLine("| type | gold | TP | FP | FN | precision | recall | F2 |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        Row("any (type-agnostic)", scorer.Any);
        foreach (KeyValuePair<string, SpanCounts> t in scorer.ByType)
        {
            Row(t.Key, t.Value);
        }

        return sb.ToString();

        void Row(string name, SpanCounts c) =>
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {c.Gold} | {c.TruePositives} | {c.FalsePositives} | {c.FalseNegatives} | {c.Precision:F3} | {c.Recall:F3} | {c.F2:F3} |");
    }
}
