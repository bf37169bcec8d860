namespace CopilotGuard;

/// <summary>Why a guarded operation (retrieval, explain, de-anonymization, relabeling, an audit query, an admin
/// action) was refused.</summary>
public enum GuardErrorKind
{
    /// <summary>The request is malformed (empty or oversized query, bad top, ...).</summary>
    InvalidRequest,

    /// <summary>The caller (or its agent) is not in the directory or is not allowed to call.</summary>
    Forbidden,

    /// <summary>Entitlements could not be resolved; no data is returned.</summary>
    EntitlementsUnavailable,

    /// <summary>The audit record could not be written; no data is returned.</summary>
    AuditUnavailable,

    /// <summary>The caller exceeded a rate limit; retry after <see cref="GuardException.RetryAfter"/>.</summary>
    RateLimited,

    /// <summary>The thing asked about does not exist (or the caller may not know it exists).</summary>
    NotFound,
}

/// <summary>Thrown when a guarded operation is refused; the message is safe to show to the caller. The one error type
/// of the engine, so that policy, audit and identity need not depend on retrieval to refuse.</summary>
public sealed class GuardException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GuardException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public GuardException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public GuardException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a kind of refusal.</summary>
    public GuardException(GuardErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException) => Kind = kind;

    /// <summary>Gets why the operation was refused.</summary>
    public GuardErrorKind Kind { get; }

    /// <summary>Gets how long to wait before retrying, for <see cref="GuardErrorKind.RateLimited"/>.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
