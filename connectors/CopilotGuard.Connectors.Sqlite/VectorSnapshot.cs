using System.Numerics.Tensors;

namespace CopilotGuard.Connectors.Sqlite;

/// <summary>An immutable in-memory copy of the store's vectors at one generation.</summary>
internal sealed class VectorSnapshot
{
    public VectorSnapshot(long generation, long[] rowIds, string[] ids, float[][] vectors)
    {
        Generation = generation;
        RowIds = rowIds;
        Ids = ids;
        Vectors = vectors;
        IndexOf = new Dictionary<long, int>(rowIds.Length);
        for (var i = 0; i < rowIds.Length; i++)
        {
            IndexOf[rowIds[i]] = i;
        }
    }

    public long Generation { get; }

    public long[] RowIds { get; }

    public string[] Ids { get; }

    public float[][] Vectors { get; }

    public Dictionary<long, int> IndexOf { get; }

    /// <summary>Returns the best <paramref name="count"/> candidates by cosine similarity, ties broken by chunk id.</summary>
    /// <remarks>Keeps only the best <paramref name="count"/> in a heap while scoring, so ranking many passing rows for a
    /// small page costs O(n log k), not a sort of every candidate.</remarks>
    public List<(int Index, double Score)> Rank(ReadOnlySpan<float> query, ReadOnlySpan<int> candidates, int count)
    {
        var kept = new PriorityQueue<int, (double Score, string Id)>(Math.Min(count, candidates.Length) + 1, Worst);
        foreach (var index in candidates)
        {
            var vector = Vectors[index];
            var score = Math.Round(vector.Length == query.Length ? TensorPrimitives.CosineSimilarity(query, vector) : 0f, 6);
            if (kept.Count < count)
            {
                kept.Enqueue(index, (score, Ids[index]));
            }
            else if (count > 0 && Worst.Compare((score, Ids[index]), PeekPriority(kept)) > 0)
            {
                kept.EnqueueDequeue(index, (score, Ids[index]));
            }
        }

        var ranked = new List<(int Index, double Score)>(kept.Count);
        while (kept.TryDequeue(out var index, out var priority))
        {
            ranked.Add((index, priority.Score));
        }

        ranked.Reverse();
        return ranked;
    }

    private static (double Score, string Id) PeekPriority(PriorityQueue<int, (double Score, string Id)> queue) =>
        queue.TryPeek(out _, out var priority) ? priority : default;

    /// <summary>Orders worst first: lower score, then the larger chunk id (ordinal), so the heap's top is the one to evict.</summary>
    private static readonly Comparer<(double Score, string Id)> Worst = Comparer<(double Score, string Id)>.Create(static (a, b) =>
    {
        var byScore = a.Score.CompareTo(b.Score);
        return byScore != 0 ? byScore : string.CompareOrdinal(b.Id, a.Id);
    });
}
