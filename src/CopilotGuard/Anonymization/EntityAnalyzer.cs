namespace CopilotGuard.Anonymization;

/// <summary>Runs a set of recognizers over a text and resolves overlapping results into one list of entities.</summary>
/// <remarks>Immutable and thread-safe when its recognizers are.</remarks>
public sealed class EntityAnalyzer
{
    private readonly IEntityRecognizer[] _recognizers;

    /// <summary>Initializes a new analyzer.</summary>
    /// <param name="recognizers">The recognizers to run, in order.</param>
    /// <param name="scoreThreshold">The minimum score an entity needs to be reported. The default is 0.3.</param>
    public EntityAnalyzer(IEnumerable<IEntityRecognizer> recognizers, double scoreThreshold = DefaultScoreThreshold)
    {
        ArgumentNullException.ThrowIfNull(recognizers);
        ArgumentOutOfRangeException.ThrowIfLessThan(scoreThreshold, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(scoreThreshold, 1);
        _recognizers = [.. recognizers];
        ScoreThreshold = scoreThreshold;
    }

    /// <summary>The default minimum score: weak patterns (bare 9-digit numbers, bank numbers) need a context word to pass it.</summary>
    public const double DefaultScoreThreshold = 0.3;

    /// <summary>Gets the minimum score an entity needs to be reported.</summary>
    public double ScoreThreshold { get; }

    /// <summary>Gets the recognizers this analyzer runs.</summary>
    public IReadOnlyList<IEntityRecognizer> Recognizers => _recognizers;

    /// <summary>Creates an analyzer with the built-in pattern recognizer, the rule-and-gazetteer name recognizer, and any extra recognizers.</summary>
    /// <param name="additional">Extra recognizers, such as a dictionary recognizer built from the organization's directory.</param>
    /// <returns>The analyzer.</returns>
    public static EntityAnalyzer CreateDefault(params IEntityRecognizer[] additional)
    {
        ArgumentNullException.ThrowIfNull(additional);
        return new EntityAnalyzer([PatternRecognizer.CreateDefault(), NameRecognizer.Default, .. additional]);
    }

    /// <summary>Finds the entities in <paramref name="text"/>, without overlaps, ordered by start.</summary>
    /// <param name="text">The text to analyze.</param>
    /// <returns>The entities, with UTF-16 offsets into <paramref name="text"/>.</returns>
    public IReadOnlyList<EntitySpan> Analyze(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var raw = new List<EntitySpan>();
        foreach (IEntityRecognizer recognizer in _recognizers)
        {
            recognizer.Recognize(text, raw);
        }

        return OverlapResolver.Resolve(raw, ScoreThreshold);
    }
}

/// <summary>Resolves overlapping entities: the higher score wins, then the longer span, then the earlier start, then the type name.</summary>
public static class OverlapResolver
{
    private static readonly Comparison<EntitySpan> s_priority = static (a, b) =>
    {
        int c = b.Score.CompareTo(a.Score);
        if (c != 0)
        {
            return c;
        }

        c = b.Length.CompareTo(a.Length);
        if (c != 0)
        {
            return c;
        }

        c = a.Start.CompareTo(b.Start);
        return c != 0 ? c : string.CompareOrdinal(a.Type, b.Type);
    };

    /// <summary>Keeps the non-overlapping winners at or above <paramref name="threshold"/>, ordered by start.</summary>
    /// <param name="spans">The candidate spans; the list is reordered in place.</param>
    /// <param name="threshold">The minimum score to keep.</param>
    /// <returns>The resolved spans.</returns>
    public static IReadOnlyList<EntitySpan> Resolve(List<EntitySpan> spans, double threshold)
    {
        ArgumentNullException.ThrowIfNull(spans);
        spans.RemoveAll(s => s.Score < threshold || s.End <= s.Start);
        if (spans.Count <= 1)
        {
            return spans;
        }

        spans.Sort(s_priority);
        var kept = new List<EntitySpan>(spans.Count);
        foreach (EntitySpan candidate in spans)
        {
            // kept is sorted by start; find the insertion point and check the neighbours.
            int index = LowerBound(kept, candidate.Start);
            bool overlaps = (index > 0 && kept[index - 1].End > candidate.Start) || (index < kept.Count && kept[index].Start < candidate.End);
            if (!overlaps)
            {
                kept.Insert(index, candidate);
            }
        }

        return kept;
    }

    private static int LowerBound(List<EntitySpan> kept, int start)
    {
        int lo = 0, hi = kept.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (kept[mid].Start < start)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
