using System.Security.Cryptography;
using CopilotGuard.Audit;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>One entry a retention run expires (or would expire).</summary>
/// <param name="Sequence">Its sequence.</param>
/// <param name="RecordId">Its record id.</param>
/// <param name="Class">The retention class that expired it.</param>
internal readonly record struct ExpiredEntry(long Sequence, string RecordId, string Class);

/// <summary>Builds the <see cref="AuditRetentionSummary"/> of a retention run from the shared <see cref="AuditRetention"/>
/// pieces, exactly as the SQLite log does: every class (the default last) with its cutoff and expired ranges, and the
/// hash over the expired sequences and record ids.</summary>
internal static class AuditRetentionSummaries
{
    /// <summary>Summarizes a run.</summary>
    /// <param name="policy">The policy that decided.</param>
    /// <param name="schedule">Its cutoffs at the run's time.</param>
    /// <param name="covered">The tree size of the signed checkpoint that covered every expired entry.</param>
    /// <param name="expired">The expired entries, in ascending sequence order.</param>
    public static AuditRetentionSummary Create(AuditRetentionPolicy policy, AuditRetentionSchedule schedule, long covered, IReadOnlyList<ExpiredEntry> expired)
    {
        var classes = policy.Classes.Select((c, i) => (Name: c.Name, MaxAge: c.MaxAge.Text, Cutoff: schedule.CutoffOf(i)))
            .Append((Name: AuditRetentionPolicy.DefaultClass, MaxAge: policy.Default.Text, Cutoff: schedule.DefaultCutoff))
            .Select(c =>
            {
                var ranges = new List<AuditSequenceRange>();
                foreach (var entry in expired.Where(e => string.Equals(e.Class, c.Name, StringComparison.Ordinal)))
                {
                    AuditRetention.AddToRanges(ranges, entry.Sequence);
                }

                return new AuditRetentionClassSummary { Class = c.Name, MaxAge = c.MaxAge, Cutoff = c.Cutoff, Expired = ranges.Sum(static r => r.Last - r.First + 1), Ranges = [.. ranges] };
            });
        using var ids = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var entry in expired)
        {
            AuditRetention.AppendExpiredId(ids, entry.Sequence, entry.RecordId);
        }

        return new AuditRetentionSummary
        {
            PolicySha256 = policy.Sha256,
            PolicySource = policy.Source,
            CoveredByCheckpoint = covered,
            Classes = [.. classes],
            Expired = expired.Count,
            ExpiredIdsSha256 = Convert.ToHexStringLower(ids.GetHashAndReset()),
        };
    }
}
