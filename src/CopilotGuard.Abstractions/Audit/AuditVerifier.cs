using System.Text.Json;

namespace CopilotGuard.Audit;

/// <summary>Checks a stored log end to end: sequence, chain hashes, readable records, and every signed checkpoint.</summary>
/// <remarks>The same check for every store, so a SQLite and a PostgreSQL log are verified identically. An entry
/// rewritten together with every later chain hash is caught by the first checkpoint after it; entries appended after
/// the last checkpoint are protected by the chain only (reported as <see cref="AuditVerification.Unanchored"/>).</remarks>
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

            var hash = AuditChain.Link(previous, entry.Sequence, entry.Payload.Span);
            if (!string.Equals(hash, entry.Hash, StringComparison.Ordinal))
            {
                return Bad(entry.Sequence, $"entry {entry.Sequence} does not match its chain hash: edited, reordered or inserted");
            }

            string recordId;
            try
            {
                recordId = AuditJson.Deserialize(entry.Payload.Span).RecordId;
            }
            catch (JsonException)
            {
                return Bad(entry.Sequence, $"entry {entry.Sequence} is not a readable record");
            }

            if (!string.Equals(recordId, entry.RecordId, StringComparison.Ordinal))
            {
                return Bad(entry.Sequence, $"entry {entry.Sequence}: the indexed record id differs from the hashed record");
            }

            previous = hash;
            frontier.Append(AuditMerkle.LeafHash(entry.Payload.Span));
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

        return new AuditVerification(true, expected, expected == 0 ? string.Empty : previous, Checkpoints: next, MerkleRoot: Convert.ToHexStringLower(frontier.Root()), Unanchored: expected - anchored);

        AuditVerification Bad(long sequence, string problem) =>
            new(false, sequence - 1, previous, sequence, problem, next);

        AuditVerification BadCheckpoint(AuditCheckpoint checkpoint, long? sequence, string problem) =>
            new(false, expected, previous, sequence, problem, next, checkpoint.TreeSize);
    }
}
