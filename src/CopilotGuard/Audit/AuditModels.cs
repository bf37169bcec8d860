using System.Collections.Immutable;
using CopilotGuard.Identity;

namespace CopilotGuard.Audit;

/// <summary>Who asks a compliance question: a network caller (checked for the compliance role) or the local operator of the data folder.</summary>
/// <param name="Caller">The authenticated caller, for HTTP requests.</param>
/// <param name="LocalOperator">The operating-system user running the CLI on the data folder (who can read the files anyway).</param>
/// <param name="ClientAddress">The caller's network address, if known.</param>
public sealed record AuditRequester(CallerIdentity? Caller, string? LocalOperator = null, string? ClientAddress = null)
{
    /// <summary>Creates a requester for an authenticated network caller.</summary>
    public static AuditRequester Remote(CallerIdentity caller, string? clientAddress) => new(caller ?? throw new ArgumentNullException(nameof(caller)), null, clientAddress);

    /// <summary>Creates a requester for the local operator of the data folder.</summary>
    public static AuditRequester Local(string operatorName) => new(null, "local:" + operatorName, "cli");
}

/// <summary>An answer to bind to the receipts that grounded it.</summary>
public sealed record AnswerRegistration
{
    /// <summary>Gets the receipts (retrieval record ids) the answer used; 1 to 100.</summary>
    public required ImmutableArray<string> ReceiptIds { get; init; }

    /// <summary>Gets the answer text; hashed and never stored.</summary>
    public string? Answer { get; init; }

    /// <summary>Gets the SHA-256 of the answer text (UTF-8, hex), when the caller hashes it itself.</summary>
    public string? AnswerSha256 { get; init; }

    /// <summary>Gets the model that produced the answer.</summary>
    public string? Model { get; init; }

    /// <summary>Gets the chunks the answer cites; each must have been returned by one of the receipts.</summary>
    public ImmutableArray<string> CitedChunkIds { get; init; } = [];

    /// <summary>Gets the caller's network address, for the record.</summary>
    public string? ClientAddress { get; init; }
}

/// <summary>A registered answer.</summary>
/// <param name="AnswerId">The answer record id.</param>
/// <param name="AnswerSha256">The recorded SHA-256 of the answer.</param>
/// <param name="Sequence">The record's position in the log.</param>
public sealed record RegisteredAnswer(string AnswerId, string AnswerSha256, long Sequence);

/// <summary>An answer and the retrievals behind it.</summary>
/// <param name="Answer">The answer record.</param>
/// <param name="Receipts">The retrieval records it was bound to, in the order given (receipts that expired under retention left out).</param>
public sealed record AnswerTrace(AuditEntry Answer, IReadOnlyList<AuditEntry> Receipts)
{
    /// <summary>Gets the receipts the answer was bound to that expired under retention, in the order given.</summary>
    public IReadOnlyList<ExpiredAuditRecord> ExpiredReceipts { get; init; } = [];
}

/// <summary>A record that expired under retention: only its position, chain hash and id are kept.</summary>
/// <param name="RecordId">The record id.</param>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Hash">Its chain hash (still verified).</param>
/// <param name="ExpiredAt">When it expired.</param>
/// <param name="RetentionRecordId">The retention record that expired it and lists it.</param>
/// <param name="Class">The retention class that governed it, when the retention record names it.</param>
/// <param name="MaxAge">That class's maximum age, as written in the retention file.</param>
public sealed record ExpiredAuditRecord(string RecordId, long Sequence, string Hash, DateTimeOffset ExpiredAt, string RetentionRecordId, string? Class, string? MaxAge)
{
    /// <summary>Gets a sentence saying that and when the record expired, for problem details and the CLI.</summary>
    public string Describe() =>
        $"Record '{RecordId}' (entry {Sequence}) expired under retention on {ExpiredAt:u}{(Class is null ? string.Empty : $" (class '{Class}', maximum age {MaxAge})")}; retention record {RetentionRecordId} lists it, and only its chain hash is kept.";
}

/// <summary>Thrown when a record asked for by id expired under retention.</summary>
public sealed class AuditRecordExpiredException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AuditRecordExpiredException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public AuditRecordExpiredException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public AuditRecordExpiredException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for an expired record.</summary>
    public AuditRecordExpiredException(ExpiredAuditRecord expired)
        : base((expired ?? throw new ArgumentNullException(nameof(expired))).Describe()) => Expired = expired;

    /// <summary>Gets the expired record, when known.</summary>
    public ExpiredAuditRecord? Expired { get; }
}

/// <summary>A retrieval and the answers bound to it.</summary>
/// <param name="Receipt">The retrieval record.</param>
/// <param name="Answers">The answer records that cite the receipt, oldest first.</param>
public sealed record ReceiptTrace(AuditEntry Receipt, IReadOnlyList<AuditEntry> Answers);

/// <summary>Thrown when a receipt or answer does not exist (or, for a non-compliance caller, is not the caller's).</summary>
public sealed class AuditNotFoundException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AuditNotFoundException()
    {
    }

    /// <summary>Creates the exception with a message that is safe to show to the caller.</summary>
    public AuditNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public AuditNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Settings of <see cref="AuditService"/>.</summary>
public sealed class AuditServiceOptions
{
    /// <summary>Gets or sets the roles (values of <c>principal.roles</c>) that may query the audit log. The default is <c>compliance-officer</c>.</summary>
    public IList<string> ComplianceRoles { get; set; } = ["compliance-officer"];

    /// <summary>Gets or sets the most receipts one answer may be bound to. The default is 100.</summary>
    public int MaxReceiptsPerAnswer { get; set; } = 100;

    /// <summary>Gets or sets the most cited chunks one answer may declare. The default is 1,000.</summary>
    public int MaxCitedChunks { get; set; } = 1000;
}
