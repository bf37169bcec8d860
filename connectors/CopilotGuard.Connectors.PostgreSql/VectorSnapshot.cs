using System.Numerics.Tensors;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>An immutable in-memory copy of the store's vectors at one generation.</summary>
internal sealed class VectorSnapshot
{
    public VectorSnapshot(long generation, Dictionary<long, (string Id, float[] Vector)> rows)
    {
        Generation = generation;
        Rows = rows;
    }

    public long Generation { get; }

    public Dictionary<long, (string Id, float[] Vector)> Rows { get; }

    /// <summary>Scores one vector against the query: cosine similarity rounded to 6 decimals (0 when dimensions differ).</summary>
    public static double Score(ReadOnlySpan<float> query, ReadOnlySpan<float> vector) =>
        vector.Length == query.Length && vector.Length > 0 ? Math.Round(TensorPrimitives.CosineSimilarity(query, vector), 6) : 0;

    /// <summary>Sorts hits best first: by score, then by chunk id (ordinal).</summary>
    public static void Sort(List<(long Key, string Id, double Score)> hits) =>
        hits.Sort(static (a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : string.CompareOrdinal(a.Id, b.Id);
        });
}
