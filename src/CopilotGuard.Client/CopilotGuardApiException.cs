using System.Net;

namespace CopilotGuard.Client;

/// <summary>Represents an error answered by the CopilotGuard API as an RFC 7807 problem.</summary>
/// <remarks>No data was released when this is thrown for a retrieval: the server fails closed.</remarks>
public sealed class CopilotGuardApiException : Exception
{
    /// <summary>Initializes a new exception with a generic message.</summary>
    public CopilotGuardApiException()
        : this("The CopilotGuard API answered with an error.")
    {
    }

    /// <summary>Initializes a new exception with a message.</summary>
    /// <param name="message">The message.</param>
    public CopilotGuardApiException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new exception with a message and the exception that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public CopilotGuardApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new exception from a problem answered by the server.</summary>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="title">The problem title.</param>
    /// <param name="detail">The problem detail.</param>
    /// <param name="type">The problem type URI.</param>
    /// <param name="retryAfter">How long to wait before retrying, when the server said.</param>
    public CopilotGuardApiException(HttpStatusCode statusCode, string? title, string? detail, string? type = null, TimeSpan? retryAfter = null)
        : base(Describe(statusCode, title, detail))
    {
        StatusCode = statusCode;
        Title = title;
        Detail = detail;
        Type = type;
        RetryAfter = retryAfter;
    }

    /// <summary>Gets the HTTP status of the answer.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>Gets the problem title, such as <c>Forbidden</c>.</summary>
    public string? Title { get; }

    /// <summary>Gets the problem detail: what went wrong, in words.</summary>
    public string? Detail { get; }

    /// <summary>Gets the problem type URI, if any.</summary>
    public string? Type { get; }

    /// <summary>Gets how long to wait before retrying (429 and 503 answers), if the server said.</summary>
    public TimeSpan? RetryAfter { get; }

    private static string Describe(HttpStatusCode statusCode, string? title, string? detail)
    {
        var head = $"CopilotGuard answered {(int)statusCode} {title ?? statusCode.ToString()}";
        return string.IsNullOrWhiteSpace(detail) ? head + "." : $"{head}: {detail}";
    }
}
