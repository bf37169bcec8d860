using System.Buffers;
using System.Runtime.InteropServices;

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

    /// <summary>
    /// Creates the accurate analyzer for ingestion and the command line: the built-in patterns, the context
    /// recognizers (addresses, ages, titles, nationalities), the rule-and-gazetteer name recognizer and the learned
    /// sequence tagger (<see cref="Ner.NerRecognizer"/>). Slower than <see cref="CreateDefault"/>, which stays the
    /// query-time set.
    /// </summary>
    /// <param name="additional">Extra recognizers, such as a dictionary recognizer built from the organization's directory.</param>
    /// <returns>The analyzer.</returns>
    public static EntityAnalyzer CreateAccurate(params IEntityRecognizer[] additional)
    {
        ArgumentNullException.ThrowIfNull(additional);
        return new EntityAnalyzer([PatternRecognizer.CreateDefault(), ContextRecognizer.Default, Ner.NerRecognizer.Default, .. additional]);
    }

    /// <summary>Finds the entities in <paramref name="text"/>, without overlaps, ordered by start.</summary>
    /// <param name="text">The text to analyze.</param>
    /// <returns>The entities, with UTF-16 offsets into <paramref name="text"/>.</returns>
    public IReadOnlyList<EntitySpan> Analyze(string text)
    {
        ArgumentNullException.ThrowIfNull(text);

        // The candidates go to a per-thread buffer that keeps its capacity (taken out while in use, so a recognizer that
        // analyzes another text gets its own); only the resolved list is allocated.
        List<EntitySpan> raw = t_candidates ?? new List<EntitySpan>(256);
        t_candidates = null;
        try
        {
            foreach (IEntityRecognizer recognizer in _recognizers)
            {
                int before = raw.Count;
                recognizer.Recognize(text, raw);
                for (int k = before; k < raw.Count; k++)
                {
                    if (raw[k].Recognizer is null)
                    {
                        raw[k] = raw[k] with { Recognizer = recognizer.Name };
                    }
                }
            }

            IReadOnlyList<EntitySpan> resolved = OverlapResolver.Resolve(raw, ScoreThreshold);
            return ReferenceEquals(resolved, raw) ? [.. raw] : resolved;
        }
        finally
        {
            raw.Clear();
            if (raw.Capacity <= MaxPooledCandidates)
            {
                t_candidates = raw;
            }
        }
    }

    private const int MaxPooledCandidates = 16 * 1024;

    [ThreadStatic]
    private static List<EntitySpan>? t_candidates;
}

/// <summary>Resolves overlapping entities: the higher score wins, then the longer span, then the earlier start, then the type name, then the subject id.</summary>
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
        if (c != 0)
        {
            return c;
        }

        c = string.CompareOrdinal(a.Type, b.Type);
        return c != 0 ? c : string.CompareOrdinal(a.SubjectId, b.SubjectId);
    };

    /// <summary>Keeps the non-overlapping winners at or above <paramref name="threshold"/>, ordered by start.</summary>
    /// <param name="spans">The candidate spans; the list is reordered in place.</param>
    /// <param name="threshold">The minimum score to keep.</param>
    /// <returns>The resolved spans.</returns>
    /// <remarks>
    /// Taking winners greedily in priority order only ever compares spans that overlap, so each group of transitively
    /// overlapping spans is resolved on its own: the spans are sorted by start (integer keys) and the priority sort runs
    /// only inside groups, which are one span long for most text.
    /// </remarks>
    public static IReadOnlyList<EntitySpan> Resolve(List<EntitySpan> spans, double threshold)
    {
        ArgumentNullException.ThrowIfNull(spans);
        // In place, without a capturing delegate: this runs for every analyzed text.
        int count = 0;
        for (int k = 0; k < spans.Count; k++)
        {
            if (!(spans[k].Score < threshold) && spans[k].End > spans[k].Start)
            {
                spans[count++] = spans[k];
            }
        }

        spans.RemoveRange(count, spans.Count - count);
        if (spans.Count <= 1)
        {
            return spans;
        }

        // Order by start through an index sort on integer keys (no comparison delegate, no struct moves).
        Span<EntitySpan> candidates = CollectionsMarshal.AsSpan(spans);
        int n = candidates.Length;
        int[] starts = ArrayPool<int>.Shared.Rent(n);
        int[] order = ArrayPool<int>.Shared.Rent(n);
        EntitySpan[] sorted = ArrayPool<EntitySpan>.Shared.Rent(n);
        try
        {
            for (int k = 0; k < n; k++)
            {
                starts[k] = candidates[k].Start;
                order[k] = k;
            }

            starts.AsSpan(0, n).Sort(order.AsSpan(0, n));
            for (int k = 0; k < n; k++)
            {
                sorted[k] = candidates[order[k]];
            }

            Span<EntitySpan> all = sorted.AsSpan(0, n);
            var kept = new List<EntitySpan>(n);
            int i = 0;
            while (i < n)
            {
                int j = i + 1;
                int groupEnd = all[i].End;
                while (j < n && all[j].Start < groupEnd)
                {
                    groupEnd = Math.Max(groupEnd, all[j].End);
                    j++;
                }

                if (j == i + 1)
                {
                    kept.Add(all[i]);
                }
                else
                {
                    ResolveGroup(all[i..j], kept);
                }

                i = j;
            }

            return kept;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(starts);
            ArrayPool<int>.Shared.Return(order);
            ArrayPool<EntitySpan>.Shared.Return(sorted, clearArray: true);
        }
    }

    /// <summary>Resolves one group of overlapping spans greedily by priority and appends the winners by start.</summary>
    private static void ResolveGroup(Span<EntitySpan> group, List<EntitySpan> kept)
    {
        group.Sort(s_priority);
        int first = kept.Count;
        foreach (EntitySpan candidate in group)
        {
            bool overlaps = false;
            for (int k = first; k < kept.Count && !overlaps; k++)
            {
                overlaps = kept[k].Overlaps(candidate);
            }

            if (!overlaps)
            {
                // Keep the group's winners ordered by start.
                int at = kept.Count;
                while (at > first && kept[at - 1].Start > candidate.Start)
                {
                    at--;
                }

                kept.Insert(at, candidate);
            }
        }
    }
}
