using System.Collections.Immutable;

namespace CopilotGuard.Audit;

/// <summary>An offline-checkable proof that a record is entry <see cref="Sequence"/> of the log covered by a signed checkpoint.</summary>
/// <remarks>Check it with <see cref="Verify"/> and the log's public key: the record bytes hash to the leaf, the audit path
/// leads from the leaf to the checkpoint's Merkle root (RFC 9162), and the checkpoint is signed.</remarks>
/// <param name="RecordId">The record id.</param>
/// <param name="Sequence">The entry's position (its leaf index plus one).</param>
/// <param name="Record">The record bytes as stored (base64 of UTF-8 JSON).</param>
/// <param name="LeafHash">The RFC 9162 leaf hash of the record bytes (hex).</param>
/// <param name="Path">The audit path from the leaf to the root, bottom up (hex).</param>
/// <param name="Checkpoint">The signed checkpoint whose Merkle root the path leads to.</param>
public sealed record AuditInclusionProof(string RecordId, long Sequence, string Record, string LeafHash, ImmutableArray<string> Path, AuditCheckpoint Checkpoint)
{
    /// <summary>Builds the proof for entry <paramref name="sequence"/> against a checkpoint that covers it.</summary>
    /// <exception cref="InvalidDataException">The stored entries do not match the checkpoint (the log was altered).</exception>
    public static async Task<AuditInclusionProof> BuildAsync(IAuditReader reader, long sequence, AuditCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequence, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sequence, checkpoint.TreeSize);
        var leaves = new List<byte[]>((int)Math.Min(checkpoint.TreeSize, 1 << 20));
        StoredAuditEntry? target = null;
        await foreach (var entry in reader.ReadAsync(0, cancellationToken).ConfigureAwait(false))
        {
            if (entry.Sequence > checkpoint.TreeSize)
            {
                break;
            }

            leaves.Add(entry.LeafHash is { } kept ? Convert.FromHexString(kept) : AuditMerkle.LeafHash(entry.Payload.Span));
            if (entry.Sequence == sequence)
            {
                target = entry;
            }
        }

        if (target is null || leaves.Count != checkpoint.TreeSize || Convert.ToHexStringLower(AuditMerkle.Root(leaves)) != checkpoint.MerkleRoot)
        {
            throw new InvalidDataException($"The stored entries do not match the checkpoint at tree size {checkpoint.TreeSize}; run audit verify.");
        }

        return new AuditInclusionProof(
            target.RecordId,
            sequence,
            Convert.ToBase64String(target.Payload.Span),
            Convert.ToHexStringLower(leaves[(int)sequence - 1]),
            [.. AuditMerkle.InclusionProof(leaves, sequence - 1).Select(Convert.ToHexStringLower)],
            checkpoint);
    }

    /// <summary>Checks the proof offline with the log's public key.</summary>
    /// <returns><see langword="null"/> when the proof holds; otherwise what is wrong.</returns>
    public string? Verify(IAuditSigner verifier)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        byte[] payload, root;
        byte[][] path;
        try
        {
            payload = Convert.FromBase64String(Record);
            root = Convert.FromHexString(Checkpoint.MerkleRoot);
            path = [.. Path.Select(Convert.FromHexString)];
        }
        catch (FormatException)
        {
            return "the proof is malformed";
        }

        var leaf = AuditMerkle.LeafHash(payload);
        if (Convert.ToHexStringLower(leaf) != LeafHash)
        {
            return "the record bytes do not hash to the leaf";
        }

        try
        {
            if (AuditJson.Deserialize(payload).RecordId != RecordId)
            {
                return "the record bytes are for another record id";
            }
        }
        catch (System.Text.Json.JsonException)
        {
            return "the record bytes are not a record";
        }

        if (!AuditMerkle.VerifyInclusion(leaf, Sequence - 1, Checkpoint.TreeSize, path, root))
        {
            return "the audit path does not lead to the checkpoint's Merkle root";
        }

        return Checkpoint.IsSignedBy(verifier) ? null : "the checkpoint signature does not verify with this key";
    }
}
