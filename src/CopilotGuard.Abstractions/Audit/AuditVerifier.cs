using System.Text.Json;

namespace CopilotGuard.Audit;

/// <summary>Checks a stored log end to end: sequence, chain hashes, readable records, and every signed checkpoint.</summary>
/// <remarks>The same check for every store, so a SQLite and a PostgreSQL log are verified identically. An entry
/// rewritten together with every later chain hash is caught by the first checkpoint after it; entries appended after
/// the last checkpoint are protected by the chain only (reported as <see cref="AuditVerification.Unanchored"/>).
/// Entries that expired under retention are checked through their kept leaf hash; each must be listed by a later
/// retention record that matches its tombstones exactly, lists only entries a signed checkpoint covered before it, and is
/// itself covered by a signed checkpoint (counted in <see cref="AuditVerification.Expired"/>).</remarks>
public static class AuditVerifier
{
    /// <summary>Verifies stored entries against the checkpoints and names the first bad entry or checkpoint.</summary>
    /// <param name="entries">The stored entries, in stored order.</param>
    /// <param name="checkpoints">The stored checkpoints.</param>
    /// <param name="verifier">Checks checkpoint signatures; <see langword="null"/> fails any log that has checkpoints.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    public static async Task<AuditVerification> VerifyAsync(
        IAsyncEnumerable<StoredAuditEntry> entries,
        IReadOnlyList<AuditCheckpoint> checkpoints,
        IAuditSigner? verifier,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(checkpoints);
        for (var i = 1; i < checkpoints.Count; i++)
        {
            if (checkpoints[i].TreeSize <= checkpoints[i - 1].TreeSize)
            {
                return new AuditVerification(false, 0, string.Empty, null, $"checkpoints are out of order at tree size {checkpoints[i].TreeSize}", 0, checkpoints[i].TreeSize);
            }
        }

        var frontier = new MerkleFrontier();
        var retention = new RetentionCheck();
        var previous = AuditChain.Genesis;
        long expected = 0, anchored = 0;
        var next = 0;
        await foreach (var entry in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            expected++;
            if (entry.Sequence != expected)
            {
                return Bad(expected, expected < entry.Sequence
                    ? $"entry {expected} is missing (the next stored entry is {entry.Sequence}): deleted"
                    : $"entry {entry.Sequence} appears again after entry {expected - 1}: reordered or inserted");
            }

            byte[] leaf;
            if (entry.LeafHash is { } storedLeaf)
            {
                if (storedLeaf.Length != 64 || !storedLeaf.All(static c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c)))
                {
                    return Bad(entry.Sequence, $"entry {entry.Sequence}: the kept leaf hash of the expired entry is malformed");
                }

                leaf = Convert.FromHexString(storedLeaf);
            }
            else
            {
                leaf = AuditMerkle.LeafHash(entry.Payload.Span);
            }

            var hash = AuditChain.LinkLeaf(previous, entry.Sequence, leaf);
            if (!string.Equals(hash, entry.Hash, StringComparison.Ordinal))
            {
                return Bad(entry.Sequence, entry.IsExpired
                    ? $"entry {entry.Sequence} does not match its chain hash: the kept leaf hash of the expired entry was altered"
                    : $"entry {entry.Sequence} does not match its chain hash: edited, reordered or inserted");
            }

            AuditRecord record;
            try
            {
                record = AuditJson.Deserialize(entry.Payload.Span);
            }
            catch (JsonException)
            {
                return Bad(entry.Sequence, $"entry {entry.Sequence} is not a readable record");
            }

            if (!string.Equals(record.RecordId, entry.RecordId, StringComparison.Ordinal))
            {
                return Bad(entry.Sequence, $"entry {entry.Sequence}: the indexed record id differs from the hashed record");
            }

            if (entry.IsExpired)
            {
                if (record is not { Kind: AuditRecordKinds.Expired, Target: { Length: > 0 } expiredBy })
                {
                    return Bad(entry.Sequence, $"entry {entry.Sequence}: an expired entry's tombstone is malformed");
                }

                retention.AddTombstone(expiredBy, entry.Sequence, record);
            }
            else if (record.Kind == AuditRecordKinds.Expired)
            {
                return Bad(entry.Sequence, $"entry {entry.Sequence} is a tombstone without a kept leaf hash");
            }
            else if (record is { Kind: AuditRecordKinds.Retention, Retention: { } summary } && retention.CheckRun(entry.Sequence, record, summary, anchored) is { } problem)
            {
                return Bad(entry.Sequence, problem);
            }

            previous = hash;
            frontier.Append(leaf);
            while (next < checkpoints.Count && checkpoints[next].TreeSize == expected)
            {
                var checkpoint = checkpoints[next];
                var root = Convert.ToHexStringLower(frontier.Root());
                if (!string.Equals(checkpoint.ChainHead, hash, StringComparison.Ordinal) || !string.Equals(checkpoint.MerkleRoot, root, StringComparison.Ordinal))
                {
                    return BadCheckpoint(checkpoint, anchored + 1, $"entries {anchored + 1}..{checkpoint.TreeSize} do not match the checkpoint at tree size {checkpoint.TreeSize}: rewritten");
                }

                if (verifier is null || !checkpoint.IsSignedBy(verifier))
                {
                    return BadCheckpoint(checkpoint, null, verifier is null
                        ? $"the checkpoint at tree size {checkpoint.TreeSize} cannot be checked: no verification key"
                        : $"the checkpoint at tree size {checkpoint.TreeSize} has a bad signature or an unknown key ({checkpoint.KeyId})");
                }

                anchored = checkpoint.TreeSize;
                next++;
            }

            if (next < checkpoints.Count && checkpoints[next].TreeSize < expected)
            {
                return BadCheckpoint(checkpoints[next], null, $"the checkpoint at tree size {checkpoints[next].TreeSize} is not at an entry boundary");
            }
        }

        if (next < checkpoints.Count)
        {
            return BadCheckpoint(checkpoints[next], expected + 1, $"the log ends at entry {expected} but a checkpoint covers {checkpoints[next].TreeSize} entries: truncated");
        }

        if (retention.Finish(anchored) is { } unlisted)
        {
            return new AuditVerification(false, expected, previous, unlisted.Sequence, unlisted.Problem, next);
        }

        return new AuditVerification(true, expected, expected == 0 ? string.Empty : previous, Checkpoints: next, MerkleRoot: Convert.ToHexStringLower(frontier.Root()), Unanchored: expected - anchored, Expired: retention.Expired);

        AuditVerification Bad(long sequence, string problem) =>
            new(false, sequence - 1, previous, sequence, problem, next);

        AuditVerification BadCheckpoint(AuditCheckpoint checkpoint, long? sequence, string problem) =>
            new(false, expected, previous, sequence, problem, next, checkpoint.TreeSize);
    }

    /// <summary>Matches tombstones with the retention records that must list them.</summary>
    private sealed class RetentionCheck
    {
        private readonly Dictionary<string, Group> _pending = new(StringComparer.Ordinal);
        private long _lastRun;

        /// <summary>Gets how many tombstones were seen.</summary>
        public long Expired { get; private set; }

        public void AddTombstone(string retentionRecordId, long sequence, AuditRecord tombstone)
        {
            Expired++;
            if (!_pending.TryGetValue(retentionRecordId, out var group))
            {
                _pending[retentionRecordId] = group = new Group(sequence, tombstone.Time);
            }

            AuditRetention.AddToRanges(group.Ranges, sequence);
            AuditRetention.AppendExpiredId(group.Ids, sequence, tombstone.RecordId);
            group.SameTime &= tombstone.Time == group.Time;
        }

        /// <summary>Checks a retention record against the tombstones that name it.</summary>
        public string? CheckRun(long sequence, AuditRecord record, AuditRetentionSummary summary, long anchoredBefore)
        {
            _pending.Remove(record.RecordId, out var group);
            var listed = AuditRetention.Merge(summary.Classes.IsDefault ? [] : summary.Classes.SelectMany(static c => c.Ranges.IsDefault ? [] : c.Ranges));
            using var none = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var ids = Convert.ToHexStringLower((group?.Ids ?? none).GetHashAndReset());
            var count = listed?.Sum(static r => r.Last - r.First + 1) ?? -1;
            group?.Ids.Dispose();
            if (listed is null || count != summary.Expired || summary.Classes.Sum(static c => c.Expired) != summary.Expired)
            {
                return $"entry {sequence}: the retention record's expired ranges and counts are inconsistent: edited";
            }

            var found = group?.Ranges ?? [];
            if (!listed.SequenceEqual(found))
            {
                var missing = FirstDifference(listed, found);
                return $"entry {sequence}: the retention record lists expired entries that do not match the tombstones naming it (first difference at entry {missing}): edited, or a payload was restored or deleted";
            }

            if (!string.Equals(ids, summary.ExpiredIdsSha256, StringComparison.Ordinal))
            {
                return $"entry {sequence}: the record ids of the entries it expired do not match its hash: a tombstone's record id was edited";
            }

            if (group is { SameTime: false } || (group is not null && group.Time != record.Time))
            {
                return $"entry {sequence}: a tombstone naming this retention record has another time: edited";
            }

            if (listed.Count > 0 && listed[^1].Last > anchoredBefore)
            {
                return $"entry {sequence}: entry {Math.Max(anchoredBefore + 1, listed[0].First)} expired before a signed checkpoint covered it";
            }

            if (listed.Count > 0)
            {
                _lastRun = sequence;
            }

            return null;
        }

        /// <summary>Reports the first tombstone no retention record listed, and a retention record no checkpoint anchors.</summary>
        public (long Sequence, string Problem)? Finish(long anchored)
        {
            if (_pending.Count > 0)
            {
                var first = _pending.Values.MinBy(static g => g.First)!;
                foreach (var group in _pending.Values)
                {
                    group.Ids.Dispose();
                }

                return (first.First, $"entry {first.First} expired, but no later retention record lists it: its payload was deleted outside retention");
            }

            return _lastRun > anchored
                ? (_lastRun, $"entry {_lastRun}: the retention record is not covered by a signed checkpoint, so the expiries it lists are unproven")
                : null;
        }

        private static long FirstDifference(List<AuditSequenceRange> listed, List<AuditSequenceRange> found)
        {
            using var a = listed.SelectMany(static r => Sequences(r)).GetEnumerator();
            using var b = found.SelectMany(static r => Sequences(r)).GetEnumerator();
            while (true)
            {
                var hasA = a.MoveNext();
                var hasB = b.MoveNext();
                if (!hasA || !hasB || a.Current != b.Current)
                {
                    return hasA && hasB ? Math.Min(a.Current, b.Current) : hasA ? a.Current : b.Current;
                }
            }
        }

        private static IEnumerable<long> Sequences(AuditSequenceRange range)
        {
            for (var s = range.First; s <= range.Last; s++)
            {
                yield return s;
            }
        }

        private sealed class Group(long first, DateTimeOffset time)
        {
            public long First { get; } = first;

            public DateTimeOffset Time { get; } = time;

            public bool SameTime { get; set; } = true;

            public List<AuditSequenceRange> Ranges { get; } = [];

            public System.Security.Cryptography.IncrementalHash Ids { get; } = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        }
    }
}
