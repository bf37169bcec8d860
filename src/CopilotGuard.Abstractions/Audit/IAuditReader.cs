namespace CopilotGuard.Audit;

/// <summary>Reads an audit log for compliance: raw entries for verification and export, checkpoints, and the indexes
/// that answer "who accessed this document" and "what was retrieved about this data subject".</summary>
public interface IAuditReader
{
    /// <summary>Streams stored entries in sequence order, starting after <paramref name="afterSequence"/>.</summary>
    IAsyncEnumerable<StoredAuditEntry> ReadAsync(long afterSequence, CancellationToken cancellationToken);

    /// <summary>Lists the signed checkpoints, oldest first.</summary>
    Task<IReadOnlyList<AuditCheckpoint>> GetCheckpointsAsync(CancellationToken cancellationToken);

    /// <summary>Lists the retrievals that returned a chunk of a document, oldest first, one page at a time.</summary>
    Task<AuditPage> GetDocumentAccessesAsync(string documentId, AuditPageRequest page, CancellationToken cancellationToken);

    /// <summary>Lists the retrievals that returned data about a data subject, oldest first, one page at a time.</summary>
    Task<AuditPage> GetSubjectAccessesAsync(string subjectId, AuditPageRequest page, CancellationToken cancellationToken);

    /// <summary>Lists the answers registered against a receipt, oldest first.</summary>
    Task<IReadOnlyList<AuditEntry>> GetAnswersForReceiptAsync(string receiptId, CancellationToken cancellationToken);
}

/// <summary>An entry exactly as stored: the bytes that were hashed, and the stored chain hash.</summary>
/// <param name="Sequence">The stored position.</param>
/// <param name="RecordId">The indexed record id.</param>
/// <param name="Payload">The stored record bytes (UTF-8 JSON).</param>
/// <param name="Hash">The stored chain hash.</param>
public sealed record StoredAuditEntry(long Sequence, string RecordId, ReadOnlyMemory<byte> Payload, string Hash)
{
    /// <summary>Gets the kept RFC 9162 leaf hash of the original record (lowercase hex) when the entry expired under
    /// retention; its <see cref="Payload"/> is then a tombstone (kind <c>expired</c>), not the hashed bytes.</summary>
    public string? LeafHash { get; init; }

    /// <summary>Gets whether the entry expired under retention (only its leaf and chain hashes are kept).</summary>
    public bool IsExpired => LeafHash is not null;
}

/// <summary>Which page of a list to read.</summary>
/// <param name="Limit">The most entries to return (1-1,000).</param>
/// <param name="AfterSequence">Return entries after this sequence (0 for the first page).</param>
public sealed record AuditPageRequest(int Limit = 100, long AfterSequence = 0)
{
    /// <summary>The largest page.</summary>
    public const int MaxLimit = 1000;
}

/// <summary>One page of entries.</summary>
/// <param name="Entries">The entries, oldest first.</param>
/// <param name="NextAfterSequence">The sequence to continue after, or <see langword="null"/> on the last page.</param>
public sealed record AuditPage(IReadOnlyList<AuditEntry> Entries, long? NextAfterSequence);
