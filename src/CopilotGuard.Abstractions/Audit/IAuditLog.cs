namespace CopilotGuard.Audit;

/// <summary>An append-only, hash-chained log of audit records.</summary>
/// <remarks><see cref="AppendAsync"/> returns only once the record is durable; callers release no data before.</remarks>
public interface IAuditLog
{
    /// <summary>Creates the log's storage if needed.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Appends a record durably and returns its position in the chain.</summary>
    Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken);

    /// <summary>Gets a record by id, or <see langword="null"/>.</summary>
    Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken);

    /// <summary>Checks the whole chain and names the first bad entry.</summary>
    Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken);
}

/// <summary>A record as stored: its position, the chain hash, and the record.</summary>
/// <param name="Sequence">Position in the log, from 1.</param>
/// <param name="Hash">The chain hash after this entry (lowercase hex).</param>
/// <param name="Record">The record.</param>
public sealed record AuditEntry(long Sequence, string Hash, AuditRecord Record);

/// <summary>The outcome of verifying the log.</summary>
/// <param name="Ok">True when every entry links and hashes correctly.</param>
/// <param name="Records">How many entries were checked.</param>
/// <param name="Head">The chain hash of the last entry (empty for an empty log).</param>
/// <param name="FirstBadSequence">The first entry that failed, if any.</param>
/// <param name="Problem">What is wrong with it, if anything.</param>
/// <param name="Checkpoints">How many signed checkpoints were checked.</param>
/// <param name="FirstBadCheckpoint">The tree size of the first checkpoint that failed, if any.</param>
/// <param name="MerkleRoot">The RFC 9162 Merkle root over the checked entries, when computed.</param>
/// <param name="Unanchored">How many entries at the end are not yet covered by a signed checkpoint.</param>
/// <param name="Expired">How many entries expired under retention (tombstones: only their leaf and chain hashes are kept).</param>
public sealed record AuditVerification(
    bool Ok,
    long Records,
    string Head,
    long? FirstBadSequence = null,
    string? Problem = null,
    long Checkpoints = 0,
    long? FirstBadCheckpoint = null,
    string? MerkleRoot = null,
    long Unanchored = 0,
    long Expired = 0);
