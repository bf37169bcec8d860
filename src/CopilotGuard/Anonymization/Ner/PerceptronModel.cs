using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace CopilotGuard.Anonymization.Ner;

/// <summary>
/// The weights of an averaged-perceptron BIO tagger: one row of per-label weights for each feature hash. Labels are
/// O, then B- and I- for each entity type in order. Immutable once built; thread-safe for reading.
/// </summary>
public sealed class PerceptronModel
{
    private readonly Dictionary<ulong, int> _rows;
    private readonly float[] _weights;

    internal PerceptronModel(IReadOnlyList<string> types, Dictionary<ulong, int> rows, float[] weights)
    {
        Types = types;
        LabelCount = 1 + (2 * types.Count);
        _rows = rows;
        _weights = weights;
    }

    /// <summary>Gets the entity types, in label order.</summary>
    public IReadOnlyList<string> Types { get; }

    /// <summary>Gets the number of labels (O plus B- and I- per type).</summary>
    public int LabelCount { get; }

    /// <summary>Gets the number of features with weights.</summary>
    public int FeatureCount => _rows.Count;

    /// <summary>Adds the weights of <paramref name="features"/> to <paramref name="scores"/>.</summary>
    internal void Score(ReadOnlySpan<ulong> features, Span<float> scores)
    {
        int l = LabelCount;
        foreach (ulong f in features)
        {
            if (_rows.TryGetValue(f, out int row))
            {
                ReadOnlySpan<float> w = _weights.AsSpan(row * l, l);
                for (int k = 0; k < l; k++)
                {
                    scores[k] += w[k];
                }
            }
        }
    }

    /// <summary>Returns whether label <paramref name="label"/> may follow <paramref name="previous"/> (I-X only after B-X or I-X).</summary>
    internal static bool Allowed(int previous, int label) =>
        label == 0 || (label & 1) == 1 || (previous != 0 && (previous + 1) / 2 == label / 2);

    /// <summary>Writes the model as gzip-compressed text: a header line with the types, then one line per feature (hex hash, weights times 1000 as integers), ordered by hash.</summary>
    /// <param name="stream">The stream to write to.</param>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var gzip = new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true);
        using var writer = new StreamWriter(gzip, new UTF8Encoding(false)) { NewLine = "\n" };
        writer.WriteLine("copilotguard-ner-perceptron 1 " + string.Join(',', Types));
        var sb = new StringBuilder();
        foreach (KeyValuePair<ulong, int> row in _rows.OrderBy(static r => r.Key))
        {
            sb.Clear();
            sb.Append(row.Key.ToString("x16", CultureInfo.InvariantCulture));
            for (int k = 0; k < LabelCount; k++)
            {
                sb.Append(k == 0 ? '\t' : ',');
                sb.Append(((int)MathF.Round(_weights[(row.Value * LabelCount) + k] * 1000f)).ToString(CultureInfo.InvariantCulture));
            }

            writer.WriteLine(sb);
        }
    }

    /// <summary>Reads a model written by <see cref="Save"/>.</summary>
    /// <param name="stream">The gzip-compressed model.</param>
    /// <returns>The model.</returns>
    public static PerceptronModel Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var gzip = new GZipStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        string header = reader.ReadLine() ?? throw new InvalidDataException("The NER model is empty.");
        string[] parts = header.Split(' ');
        if (parts.Length != 3 || parts[0] != "copilotguard-ner-perceptron" || parts[1] != "1")
        {
            throw new InvalidDataException("Not a CopilotGuard NER model (version 1).");
        }

        string[] types = parts[2].Split(',');
        int l = 1 + (2 * types.Length);
        var rows = new Dictionary<ulong, int>();
        var weights = new List<float>();
        while (reader.ReadLine() is { } line)
        {
            int tab = line.IndexOf('\t', StringComparison.Ordinal);
            ulong key = ulong.Parse(line.AsSpan(0, tab), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            rows[key] = rows.Count;
            ReadOnlySpan<char> rest = line.AsSpan(tab + 1);
            int k = 0;
            foreach (Range r in rest.Split(','))
            {
                weights.Add(int.Parse(rest[r], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) / 1000f);
                k++;
            }

            if (k != l)
            {
                throw new InvalidDataException($"NER model row {rows.Count} has {k} weights, expected {l}.");
            }
        }

        return new PerceptronModel(types, rows, [.. weights]);
    }
}

/// <summary>Trains a <see cref="PerceptronModel"/>: greedy left-to-right decoding, updates on mistakes, weights averaged over every step.</summary>
internal sealed class PerceptronTrainer
{
    private readonly int _labels;
    private readonly Dictionary<ulong, int> _rows = [];
    private readonly List<float> _weights = [];
    private readonly List<double> _totals = [];
    private readonly List<int> _stamps = [];
    private int _step;

    public PerceptronTrainer(IReadOnlyList<string> types)
    {
        Types = types;
        _labels = 1 + (2 * types.Count);
    }

    public IReadOnlyList<string> Types { get; }

    /// <summary>Trains on one sequence (tokens with gold labels); returns the number of wrongly guessed tokens.</summary>
    public int Train(ReadOnlySpan<TokenInfo> tokens, ReadOnlySpan<int> gold)
    {
        Span<ulong> f = stackalloc ulong[NerFeatures.MaxFeatures];
        Span<float> scores = stackalloc float[_labels];
        int prev = 0, prev2 = 0, errors = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            int n = NerFeatures.Static(tokens, i, f);
            n += NerFeatures.History(tokens, i, prev, prev2, f[n..]);
            scores.Clear();
            ReadOnlySpan<ulong> feats = f[..n];
            foreach (ulong h in feats)
            {
                if (_rows.TryGetValue(h, out int row))
                {
                    for (int k = 0; k < _labels; k++)
                    {
                        scores[k] += _weights[(row * _labels) + k];
                    }
                }
            }

            int guess = Best(scores, prev);
            _step++;
            if (guess != gold[i])
            {
                errors++;
                foreach (ulong h in feats)
                {
                    Update(h, gold[i], 1f);
                    Update(h, guess, -1f);
                }
            }

            prev2 = prev;
            prev = guess;
        }

        return errors;
    }

    internal static int Best(ReadOnlySpan<float> scores, int prev)
    {
        int best = 0;
        float bestScore = float.NegativeInfinity;
        for (int k = 0; k < scores.Length; k++)
        {
            if (PerceptronModel.Allowed(prev, k) && scores[k] > bestScore)
            {
                best = k;
                bestScore = scores[k];
            }
        }

        return best;
    }

    private void Update(ulong feature, int label, float delta)
    {
        if (!_rows.TryGetValue(feature, out int row))
        {
            row = _rows.Count;
            _rows[feature] = row;
            for (int k = 0; k < _labels; k++)
            {
                _weights.Add(0);
                _totals.Add(0);
                _stamps.Add(0);
            }
        }

        int at = (row * _labels) + label;
        _totals[at] += (double)(_step - _stamps[at]) * _weights[at];
        _stamps[at] = _step;
        _weights[at] += delta;
    }

    /// <summary>Averages the weights over every step and drops rows that round to zero.</summary>
    public PerceptronModel Build()
    {
        var rows = new Dictionary<ulong, int>();
        var weights = new List<float>();
        Span<float> avg = stackalloc float[_labels];
        foreach (KeyValuePair<ulong, int> r in _rows.OrderBy(static r => r.Key))
        {
            bool any = false;
            for (int k = 0; k < _labels; k++)
            {
                int at = (r.Value * _labels) + k;
                double total = _totals[at] + ((double)(_step - _stamps[at]) * _weights[at]);
                // Scaled by 100 so that rare features keep a weight after rounding to thousandths (the argmax does not care).
                avg[k] = MathF.Round((float)(total / Math.Max(1, _step) * 100_000d)) / 1000f;
                any |= avg[k] != 0;
            }

            if (any)
            {
                rows[r.Key] = rows.Count;
                foreach (float w in avg)
                {
                    weights.Add(w);
                }
            }
        }

        return new PerceptronModel(Types, rows, [.. weights]);
    }
}
