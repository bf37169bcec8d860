namespace CopilotGuard.Anonymization.Ner;

/// <summary>Counts of one entity type (or of all types together) and the measures computed from them.</summary>
public sealed class SpanCounts
{
    /// <summary>Gets or sets the number of predictions matched to a gold span.</summary>
    public int TruePositives { get; set; }

    /// <summary>Gets or sets the number of predictions matched to no gold span.</summary>
    public int FalsePositives { get; set; }

    /// <summary>Gets or sets the number of gold spans no prediction matched.</summary>
    public int FalseNegatives { get; set; }

    /// <summary>Gets the precision (1 when nothing was predicted).</summary>
    public double Precision => TruePositives + FalsePositives == 0 ? 1 : (double)TruePositives / (TruePositives + FalsePositives);

    /// <summary>Gets the recall (1 when there was nothing to find).</summary>
    public double Recall => TruePositives + FalseNegatives == 0 ? 1 : (double)TruePositives / (TruePositives + FalseNegatives);

    /// <summary>Gets F-beta with beta = 2 (recall weighs four times as much as precision).</summary>
    public double F2 => FBeta(2);

    /// <summary>Gets F1.</summary>
    public double F1 => FBeta(1);

    /// <summary>Gets the number of gold spans.</summary>
    public int Gold => TruePositives + FalseNegatives;

    /// <summary>Computes F-beta.</summary>
    /// <param name="beta">The weight of recall.</param>
    /// <returns>F-beta, 0 when precision and recall are both 0.</returns>
    public double FBeta(double beta)
    {
        double p = Precision, r = Recall, b2 = beta * beta;
        return p + r == 0 ? 0 : (1 + b2) * p * r / (b2 * p + r);
    }
}

/// <summary>
/// Span-level scoring as Presidio-research's evaluator does it: a prediction matches a gold span when their character
/// intersection over union is at least a threshold (0.5). Matching is one-to-one, best IoU first. The type-agnostic
/// score ignores types; the per-type score needs the types to agree and counts a prediction against its own type.
/// </summary>
public sealed class SpanScorer
{
    private readonly double _minIou;
    private readonly HashSet<string>? _types;

    /// <summary>Initializes a scorer.</summary>
    /// <param name="minIou">The minimum intersection over union for a match.</param>
    /// <param name="types">The entity types to score; predictions and gold spans of other types are ignored. <see langword="null"/> scores every type.</param>
    public SpanScorer(double minIou = 0.5, IEnumerable<string>? types = null)
    {
        _minIou = minIou;
        _types = types is null ? null : new HashSet<string>(types, StringComparer.Ordinal);
    }

    /// <summary>Gets the type-agnostic counts.</summary>
    public SpanCounts Any { get; } = new();

    /// <summary>Gets the per-type counts (predicted and gold types both).</summary>
    public SortedDictionary<string, SpanCounts> ByType { get; } = new(StringComparer.Ordinal);

    /// <summary>Returns the character intersection over union of two ranges.</summary>
    /// <param name="a">One span.</param>
    /// <param name="b">The other.</param>
    /// <returns>The IoU, from 0 to 1.</returns>
    public static double Iou(in EntitySpan a, in EntitySpan b)
    {
        int inter = Math.Min(a.End, b.End) - Math.Max(a.Start, b.Start);
        if (inter <= 0)
        {
            return 0;
        }

        int union = Math.Max(a.End, b.End) - Math.Min(a.Start, b.Start);
        return (double)inter / union;
    }

    /// <summary>Adds one text's gold and predicted spans.</summary>
    /// <param name="gold">The gold spans.</param>
    /// <param name="predicted">The predicted spans.</param>
    public void Add(IEnumerable<EntitySpan> gold, IEnumerable<EntitySpan> predicted)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        EntitySpan[] g = [.. gold.Where(s => _types is null || _types.Contains(s.Type))];
        EntitySpan[] p = [.. predicted.Where(s => _types is null || _types.Contains(s.Type))];
        Match(g, p, typed: false, (_, _) => Any.TruePositives++, _ => Any.FalsePositives++, _ => Any.FalseNegatives++);
        Match(g, p, typed: true, (gs, _) => Counts(gs.Type).TruePositives++, ps => Counts(ps.Type).FalsePositives++, gs => Counts(gs.Type).FalseNegatives++);
    }

    private SpanCounts Counts(string type)
    {
        if (!ByType.TryGetValue(type, out SpanCounts? c))
        {
            ByType[type] = c = new SpanCounts();
        }

        return c;
    }

    private void Match(EntitySpan[] gold, EntitySpan[] predicted, bool typed, Action<EntitySpan, EntitySpan> tp, Action<EntitySpan> fp, Action<EntitySpan> fn)
    {
        var pairs = new List<(double Iou, int G, int P)>();
        for (int i = 0; i < gold.Length; i++)
        {
            for (int j = 0; j < predicted.Length; j++)
            {
                if (typed && !string.Equals(gold[i].Type, predicted[j].Type, StringComparison.Ordinal))
                {
                    continue;
                }

                double iou = Iou(gold[i], predicted[j]);
                if (iou >= _minIou)
                {
                    pairs.Add((iou, i, j));
                }
            }
        }

        pairs.Sort(static (x, y) => x.Iou != y.Iou ? y.Iou.CompareTo(x.Iou) : x.G != y.G ? x.G.CompareTo(y.G) : x.P.CompareTo(y.P));
        var gUsed = new bool[gold.Length];
        var pUsed = new bool[predicted.Length];
        foreach ((_, int gi, int pj) in pairs)
        {
            if (!gUsed[gi] && !pUsed[pj])
            {
                gUsed[gi] = pUsed[pj] = true;
                tp(gold[gi], predicted[pj]);
            }
        }

        for (int i = 0; i < gold.Length; i++)
        {
            if (!gUsed[i])
            {
                fn(gold[i]);
            }
        }

        for (int j = 0; j < predicted.Length; j++)
        {
            if (!pUsed[j])
            {
                fp(predicted[j]);
            }
        }
    }
}
