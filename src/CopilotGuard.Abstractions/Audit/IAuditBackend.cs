namespace CopilotGuard.Audit;

/// <summary>The SQL of one database under <see cref="ChainedAuditWriter"/>: write transactions that hold the writers'
/// lock, the rows they insert, and the retention primitives. The writer decides what to write; a backend only says how.</summary>
internal interface IAuditBackend : IAsyncDisposable
{
    /// <summary>Opens the writer's write transaction (reusing the writer's connection), takes the lock that serializes
    /// every writer of the log (of this and other processes) and reads the head after the lock.</summary>
    Task<IAuditWriteTransaction> BeginAsync(CancellationToken cancellationToken);

    /// <summary>Opens a write transaction on a connection of its own (a retention run, outside the writer's queue), under the same lock.</summary>
    Task<IAuditWriteTransaction> BeginRetentionAsync(CancellationToken cancellationToken);

    /// <summary>Drops the writer's connection after a failed batch; the next batch opens a new one.</summary>
    ValueTask ResetAsync();

    /// <summary>Gets whether committed entries still wait for work a clean shutdown should finish (index rows written behind the appends).</summary>
    bool HasDeferredWork { get; }

    /// <summary>Reads, in one snapshot, the tree size of the last checkpoint and every checkpointed live (not expired) entry, oldest first.</summary>
    /// <param name="visit">Called with each entry's sequence, record id and payload.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The tree size of the last checkpoint (0 without one).</returns>
    Task<long> ScanCheckpointedAsync(Action<long, string, byte[]> visit, CancellationToken cancellationToken);
}

/// <summary>One write transaction of an <see cref="IAuditBackend"/>. Nothing is durable before <see cref="CommitAsync"/>
/// returns; disposing without a commit rolls everything back.</summary>
internal interface IAuditWriteTransaction : IAsyncDisposable
{
    /// <summary>Gets the head read under the writers' lock.</summary>
    AuditStoredHead Head { get; }

    /// <summary>Appends to <paramref name="frontier"/> the leaf hash of every entry after its size, in order.</summary>
    Task ReadLeavesAsync(MerkleFrontier frontier);

    /// <summary>Inserts one chained entry (and, or later, its index rows).</summary>
    ValueTask AddEntryAsync(AuditChainedRow row);

    /// <summary>Brings the index rows up to <paramref name="head"/> where the backend writes them behind the appends;
    /// <paramref name="complete"/> asks for every entry, otherwise the backend decides.</summary>
    Task IndexAsync(long head, bool complete);

    /// <summary>Inserts a signed checkpoint with the Merkle frontier it was computed from.</summary>
    Task AddCheckpointAsync(AuditCheckpoint checkpoint, MerkleFrontier frontier);

    /// <summary>Re-reads the entries among <paramref name="sequences"/> that are still checkpointed (at most
    /// <paramref name="covered"/>) live entries: sequence to record id and payload.</summary>
    Task<Dictionary<long, (string RecordId, byte[] Payload)>> ReadLiveAsync(IReadOnlyList<long> sequences, long covered, CancellationToken cancellationToken);

    /// <summary>Turns entries into tombstones (payload replaced, leaf hash kept, principal column set to
    /// <paramref name="subjectId"/>) and deletes their index rows.</summary>
    Task ExpireAsync(IReadOnlyList<AuditTombstoneRow> tombstones, string subjectId, CancellationToken cancellationToken);

    /// <summary>Commits durably; not cancellable once sent.</summary>
    Task CommitAsync();

    /// <summary>Ends the transaction without committing (the connection may be broken: never throws for that).</summary>
    Task RollbackAsync();
}

/// <summary>The head of the log and its last checkpoint, as read inside a write transaction.</summary>
/// <param name="Head">The last sequence (0 when empty).</param>
/// <param name="HeadHash">The chain hash of the last entry (<see cref="AuditChain.Genesis"/> when empty).</param>
/// <param name="CheckpointSize">The tree size of the last checkpoint (0 without one).</param>
/// <param name="CheckpointTime">The time of the last checkpoint, or <see langword="null"/> without one.</param>
/// <param name="Frontier">The saved Merkle frontier of the last checkpoint, or <see langword="null"/>.</param>
internal sealed record AuditStoredHead(long Head, string HeadHash, long CheckpointSize, DateTimeOffset? CheckpointTime, byte[]? Frontier)
{
    /// <summary>Gets the head of an empty log without checkpoints.</summary>
    public static AuditStoredHead Empty { get; } = new(0, AuditChain.Genesis, 0, null, null);
}

/// <summary>One entry as the writer chains it.</summary>
/// <param name="Sequence">Its sequence.</param>
/// <param name="Record">The record.</param>
/// <param name="Payload">The record's stored bytes.</param>
/// <param name="Hash">Its chain hash.</param>
/// <param name="Index">Its index rows when the caller computed them already, else <see langword="null"/>.</param>
internal sealed record AuditChainedRow(long Sequence, AuditRecord Record, byte[] Payload, string Hash, AuditIndexRows? Index);

/// <summary>One entry a retention run turns into a tombstone.</summary>
/// <param name="Sequence">Its sequence.</param>
/// <param name="Payload">The tombstone record's bytes.</param>
/// <param name="LeafHash">The kept leaf hash of the expired record (lowercase hex).</param>
internal readonly record struct AuditTombstoneRow(long Sequence, byte[] Payload, string LeafHash);
