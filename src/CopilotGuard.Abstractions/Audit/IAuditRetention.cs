using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CopilotGuard.Audit;

/// <summary>One entry a retention run expires (or would expire).</summary>
/// <param name="Sequence">Its sequence.</param>
/// <param name="RecordId">Its record id.</param>
/// <param name="Class">The retention class that expired it.</param>
public readonly record struct AuditExpiredEntry(long Sequence, string RecordId, string Class);

/// <summary>Expires audit entries under a retention policy while keeping the log verifiable.</summary>
/// <remarks>Only entries already covered by a signed checkpoint may expire. An expired entry becomes a tombstone: its
/// payload and index rows are deleted, its leaf hash and chain hash are kept, so the chain, the Merkle roots and every
/// signed checkpoint still verify. In the same transaction the log appends one <c>retention</c> record listing what
/// expired and signs a checkpoint over it, so the deletion is itself audited, chained and anchored; a failure leaves
/// nothing half-applied.</remarks>
public interface IAuditRetention
{
    /// <summary>Expires (or, for a dry run, only lists) every checkpointed entry older than its class's retention.</summary>
    /// <exception cref="InvalidOperationException">The log cannot sign checkpoints, so nothing can expire verifiably.</exception>
    Task<AuditRetentionReport> ApplyRetentionAsync(AuditRetentionPolicy policy, AuditRetentionRun run, CancellationToken cancellationToken);
}

/// <summary>One retention run's settings.</summary>
/// <param name="RunBy">Who runs it (recorded as the retention record's subject), e.g. <c>system:retention</c> or <c>local:alice</c>.</param>
public sealed record AuditRetentionRun(string RunBy)
{
    /// <summary>Gets whether to only report what would expire, writing nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>Gets the most entries one run expires (the rest wait for the next run). The default is 100,000.</summary>
    public int MaxEntries { get; init; } = 100_000;
}

/// <summary>What one retention run expired, or would expire.</summary>
/// <param name="Time">When the cutoffs were computed.</param>
/// <param name="DryRun">Whether nothing was written.</param>
/// <param name="Summary">The cutoffs and expired entries per class, as written into the retention record.</param>
/// <param name="Held">Checkpointed entries held because a returned label is not in the taxonomy.</param>
/// <param name="Record">The retention record appended, or <see langword="null"/> for a dry run or when nothing expired.</param>
public sealed record AuditRetentionReport(DateTimeOffset Time, bool DryRun, AuditRetentionSummary Summary, long Held, AuditEntry? Record);

/// <summary>What a <c>retention</c> record expired.</summary>
public sealed record AuditRetentionSummary
{
    /// <summary>Gets the SHA-256 of the retention file that decided (lowercase hex).</summary>
    public required string PolicySha256 { get; init; }

    /// <summary>Gets the retention file name.</summary>
    public string? PolicySource { get; init; }

    /// <summary>Gets the tree size of the signed checkpoint that covered every expired entry before it expired.</summary>
    public required long CoveredByCheckpoint { get; init; }

    /// <summary>Gets the cutoff and the expired entries of each class (classes that expired nothing included).</summary>
    public required ImmutableArray<AuditRetentionClassSummary> Classes { get; init; }

    /// <summary>Gets how many entries expired.</summary>
    public required long Expired { get; init; }

    /// <summary>Gets the SHA-256 over the expired entries' sequences and record ids (see <see cref="AuditRetention.AppendExpiredId"/>), so a
    /// tombstone's record id cannot be changed unnoticed.</summary>
    public required string ExpiredIdsSha256 { get; init; }
}

/// <summary>One class in a retention record.</summary>
public sealed record AuditRetentionClassSummary
{
    /// <summary>Gets the class name.</summary>
    public required string Class { get; init; }

    /// <summary>Gets the maximum age as written in the retention file.</summary>
    public required string MaxAge { get; init; }

    /// <summary>Gets the cutoff: entries of the class decided before it expired; <see langword="null"/> when the class keeps records forever.</summary>
    public DateTimeOffset? Cutoff { get; init; }

    /// <summary>Gets how many entries of the class expired.</summary>
    public long Expired { get; init; }

    /// <summary>Gets the expired sequence ranges, ascending.</summary>
    public ImmutableArray<AuditSequenceRange> Ranges { get; init; } = [];
}

/// <summary>A run of consecutive sequences.</summary>
/// <param name="First">The first sequence.</param>
/// <param name="Last">The last sequence (inclusive).</param>
public sealed record AuditSequenceRange(long First, long Last);

/// <summary>The pieces of retention every audit log builds the same way: tombstones, retention records, range lists and the expired-id hash.</summary>
public static class AuditRetention
{
    /// <summary>The record id prefix of retention records.</summary>
    public const string RecordIdPrefix = "ret_";

    /// <summary>Summarizes a retention run the same way for every audit log: every class (the default last) with its
    /// cutoff and expired sequence ranges, and the hash over the expired sequences and record ids.</summary>
    /// <param name="policy">The policy that decided.</param>
    /// <param name="schedule">Its cutoffs at the run's time.</param>
    /// <param name="covered">The tree size of the signed checkpoint that covered every expired entry.</param>
    /// <param name="expired">The expired entries, in ascending sequence order.</param>
    public static AuditRetentionSummary Summarize(AuditRetentionPolicy policy, AuditRetentionSchedule schedule, long covered, IReadOnlyList<AuditExpiredEntry> expired)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(expired);
        var classes = policy.Classes.Select((c, i) => (Name: c.Name, MaxAge: c.MaxAge.Text, Cutoff: schedule.CutoffOf(i)))
            .Append((Name: AuditRetentionPolicy.DefaultClass, MaxAge: policy.Default.Text, Cutoff: schedule.DefaultCutoff))
            .Select(c =>
            {
                var ranges = new List<AuditSequenceRange>();
                foreach (var entry in expired.Where(e => string.Equals(e.Class, c.Name, StringComparison.Ordinal)))
                {
                    AddToRanges(ranges, entry.Sequence);
                }

                return new AuditRetentionClassSummary { Class = c.Name, MaxAge = c.MaxAge, Cutoff = c.Cutoff, Expired = ranges.Sum(static r => r.Last - r.First + 1), Ranges = [.. ranges] };
            });
        using var ids = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var entry in expired)
        {
            AppendExpiredId(ids, entry.Sequence, entry.RecordId);
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

    /// <summary>Creates the tombstone stored in place of an expired entry: same record id, kind <c>expired</c>, the retention run's
    /// time and runner, and the retention record id as target. It carries nothing of the original record.</summary>
    public static AuditRecord Tombstone(string recordId, AuditRecord retentionRecord)
    {
        ArgumentException.ThrowIfNullOrEmpty(recordId);
        ArgumentNullException.ThrowIfNull(retentionRecord);
        return new AuditRecord
        {
            RecordId = recordId,
            Kind = AuditRecordKinds.Expired,
            Time = retentionRecord.Time,
            SubjectId = retentionRecord.SubjectId,
            PolicyVersion = retentionRecord.PolicyVersion,
            PolicyHash = retentionRecord.PolicyHash,
            Decision = "expired",
            Target = retentionRecord.RecordId,
        };
    }

    /// <summary>Creates a retention record.</summary>
    public static AuditRecord CreateRecord(DateTimeOffset time, string runBy, AuditRetentionSummary summary)
    {
        ArgumentException.ThrowIfNullOrEmpty(runBy);
        ArgumentNullException.ThrowIfNull(summary);
        return new AuditRecord
        {
            RecordId = RecordIdPrefix + Guid.CreateVersion7(time).ToString("N"),
            Kind = AuditRecordKinds.Retention,
            Time = time,
            SubjectId = runBy,
            Purpose = "retention",
            PolicyVersion = "retention:" + (summary.PolicySource ?? "retention"),
            PolicyHash = summary.PolicySha256,
            Decision = "expired",
            Retention = summary,
        };
    }

    /// <summary>Adds one expired entry, in ascending sequence order, to the hash behind <see cref="AuditRetentionSummary.ExpiredIdsSha256"/>.</summary>
    public static void AppendExpiredId(IncrementalHash hasher, long sequence, string recordId)
    {
        ArgumentNullException.ThrowIfNull(hasher);
        ArgumentNullException.ThrowIfNull(recordId);
        hasher.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{sequence}\n{recordId}\n")));
    }

    /// <summary>Adds a sequence to an ascending range list, extending the last range when it follows it.</summary>
    /// <exception cref="ArgumentException">The sequence does not come after the last range.</exception>
    public static void AddToRanges(List<AuditSequenceRange> ranges, long sequence)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        if (ranges.Count > 0 && ranges[^1].Last >= sequence)
        {
            throw new ArgumentException($"Sequence {sequence} does not come after the ranges.", nameof(sequence));
        }

        if (ranges.Count > 0 && ranges[^1].Last == sequence - 1)
        {
            ranges[^1] = ranges[^1] with { Last = sequence };
        }
        else
        {
            ranges.Add(new AuditSequenceRange(sequence, sequence));
        }
    }

    /// <summary>Merges range lists into one ascending, coalesced list.</summary>
    /// <returns>The merged list, or <see langword="null"/> when ranges are empty, reversed or overlap.</returns>
    public static List<AuditSequenceRange>? Merge(IEnumerable<AuditSequenceRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var merged = new List<AuditSequenceRange>();
        foreach (var range in ranges.OrderBy(static r => r.First))
        {
            if (range.First < 1 || range.Last < range.First || (merged.Count > 0 && merged[^1].Last >= range.First))
            {
                return null;
            }

            if (merged.Count > 0 && merged[^1].Last == range.First - 1)
            {
                merged[^1] = merged[^1] with { Last = range.Last };
            }
            else
            {
                merged.Add(range);
            }
        }

        return merged;
    }
}
