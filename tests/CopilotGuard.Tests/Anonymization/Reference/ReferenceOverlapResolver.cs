using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization.Reference;

/// <summary>The plain overlap resolution (test-only oracle): sort everything by priority, keep each span that overlaps no kept span.</summary>
internal static class ReferenceOverlapResolver
{
    public static List<EntitySpan> Resolve(IEnumerable<EntitySpan> spans, double threshold)
    {
        List<EntitySpan> candidates = [.. spans.Where(s => s.Score >= threshold && s.End > s.Start)];
        candidates.Sort(static (a, b) =>
        {
            int c = b.Score.CompareTo(a.Score);
            if (c == 0)
            {
                c = b.Length.CompareTo(a.Length);
            }

            if (c == 0)
            {
                c = a.Start.CompareTo(b.Start);
            }

            if (c == 0)
            {
                c = string.CompareOrdinal(a.Type, b.Type);
            }

            return c != 0 ? c : string.CompareOrdinal(a.SubjectId, b.SubjectId);
        });
        var kept = new List<EntitySpan>();
        foreach (EntitySpan candidate in candidates)
        {
            if (!kept.Any(k => k.Overlaps(candidate)))
            {
                kept.Add(candidate);
            }
        }

        kept.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        return kept;
    }
}
