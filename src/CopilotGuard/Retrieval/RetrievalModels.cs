using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Identity;

namespace CopilotGuard.Retrieval;

/// <summary>One retrieval request, with the authenticated caller.</summary>
public sealed record RetrievalRequest
{
    /// <summary>Gets the authenticated identities (user, and the agent acting for it, if any).</summary>
    public required CallerIdentity Caller { get; init; }

    /// <summary>Gets the query text.</summary>
    public required string Query { get; init; }

    /// <summary>Gets how many chunks to return. The default is 5.</summary>
    public int Top { get; init; } = 5;

    /// <summary>Gets how the store ranks chunks. The default is <see cref="RetrievalMode.Vector"/>.</summary>
    /// <remarks>Every mode gets the same pushed-down filter and the same post-filter re-check.</remarks>
    public RetrievalMode Mode { get; init; } = RetrievalMode.Vector;

    /// <summary>Gets the declared purpose (e.g. <c>support</c>, <c>hr-case</c>).</summary>
    public string? Purpose { get; init; }

    /// <summary>Gets the destination of the data: <c>internal</c>, or an external model or vendor.
    /// An undeclared or unregistered destination is treated as the most restrictive registered one (<see cref="CopilotGuard.Identity.DestinationRegistry"/>).</summary>
    public string? Destination { get; init; }

    /// <summary>Gets the conversation the request belongs to.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the caller's network address, for the audit record.</summary>
    public string? ClientAddress { get; init; }
}

/// <summary>The outcome of a retrieval: the receipt id and the chunks the caller may see.</summary>
/// <param name="ReceiptId">The audit record id that compliance can trace.</param>
/// <param name="Chunks">The chunks, best first.</param>
/// <param name="Record">The audit record written for this retrieval.</param>
public sealed record RetrievalResult(string ReceiptId, ImmutableArray<ScoredChunk> Chunks, AuditRecord Record);

/// <summary>Why a retrieval was refused.</summary>
public enum RetrievalErrorKind
{
    /// <summary>The request is malformed (empty or oversized query, bad top, ...).</summary>
    InvalidRequest,

    /// <summary>The caller (or its agent) is not in the directory or is not allowed to call.</summary>
    Forbidden,

    /// <summary>Entitlements could not be resolved; no data is returned.</summary>
    EntitlementsUnavailable,

    /// <summary>The audit record could not be written; no data is returned.</summary>
    AuditUnavailable,

    /// <summary>The caller exceeded a rate limit; retry after <see cref="RetrievalException.RetryAfter"/>.</summary>
    RateLimited,

    /// <summary>The thing asked about does not exist (or the caller may not know it exists).</summary>
    NotFound,
}

/// <summary>Thrown when a retrieval is refused; the message is safe to show to the caller.</summary>
public sealed class RetrievalException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RetrievalException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RetrievalException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public RetrievalException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a kind of refusal.</summary>
    public RetrievalException(RetrievalErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException) => Kind = kind;

    /// <summary>Gets why the retrieval was refused.</summary>
    public RetrievalErrorKind Kind { get; }

    /// <summary>Gets how long to wait before retrying, for <see cref="RetrievalErrorKind.RateLimited"/>.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
