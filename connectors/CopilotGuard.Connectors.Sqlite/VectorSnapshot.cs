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
    public List<(int Index, double Score)> Rank(ReadOnlySpan<float> query, List<int> candidates, int count)
    {
        var scored = new List<(int Index, double Score)>(candidates.Count);
        foreach (var index in candidates)
        {
            var vector = Vectors[index];
            var score = vector.Length == query.Length ? TensorPrimitives.CosineSimilarity(query, vector) : 0f;
            scored.Add((index, Math.Round(score, 6)));
        }

        scored.Sort((a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : string.CompareOrdinal(Ids[a.Index], Ids[b.Index]);
        });
        if (scored.Count > count)
        {
            scored.RemoveRange(count, scored.Count - count);
        }

        return scored;
    }
}
