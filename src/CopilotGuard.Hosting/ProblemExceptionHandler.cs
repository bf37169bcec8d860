using CopilotGuard.Retrieval;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace CopilotGuard.Hosting;

/// <summary>Turns every failure into an RFC 7807 problem with a clear message and never a stack trace.</summary>
/// <remarks>A <see cref="NotSupportedException"/> (a capability the configured providers lack) becomes a 501 whose
/// detail is its message.</remarks>
internal sealed partial class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail) = exception switch
        {
            GuardException { Kind: GuardErrorKind.InvalidRequest } e => (StatusCodes.Status400BadRequest, "Invalid request", e.Message),
            GuardException { Kind: GuardErrorKind.Forbidden } e => (StatusCodes.Status403Forbidden, "Forbidden", e.Message),
            GuardException { Kind: GuardErrorKind.NotFound } e => (StatusCodes.Status404NotFound, "Not found", e.Message),
            GuardException { Kind: GuardErrorKind.RateLimited } e => (StatusCodes.Status429TooManyRequests, "Too many requests", e.Message),
            GuardException e => (StatusCodes.Status503ServiceUnavailable, "No data was released", e.Message),
            BadHttpRequestException e => (e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Invalid request", Describe(e, httpContext)),
            ComplianceConsole.ConsoleViewUnavailableException e => (StatusCodes.Status501NotImplemented, "Not available with this store", e.Message),

            // A store, vault or remote service that failed or could not be reached: nothing was released, and the caller
            // may retry; the details (connection strings, hosts) stay in the server log.
            System.Data.Common.DbException or TimeoutException or HttpRequestException or Azure.RequestFailedException =>
                (StatusCodes.Status503ServiceUnavailable, "No data was released", "A backing store or service failed or could not be reached, so no data was released. The server log has the details."),

            // A capability the configured store (or another provider) lacks, e.g. "The azure-ai-search store cannot ...":
            // nothing was released, and the message says what is missing rather than hiding it behind a 500.
            NotSupportedException e => (StatusCodes.Status501NotImplemented, "Not supported by this deployment", e.Message),
            _ => (StatusCodes.Status500InternalServerError, "Internal error", "The request failed; no data was released. The server log has the details."),
        };

        // A missing console view is expected with some stores; a missing capability is logged, since a caller hit it.
        if (status >= 500 && exception is not ComplianceConsole.ConsoleViewUnavailableException)
        {
            LogFailure(logger, exception, httpContext.Request.Path);
        }

        httpContext.Response.StatusCode = status;
        if (exception is GuardException { RetryAfter: { } retryAfter })
        {
            httpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        var details = new ProblemDetails { Status = status, Title = title, Detail = detail };
        if (exception is BadHttpRequestException bad && Field(bad, httpContext) is { } field)
        {
            details.Extensions["field"] = field;
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = details,
        }).ConfigureAwait(false);
    }

    /// <summary>Answers a failed or missing bearer token with a 401 problem that says why.</summary>
    public static async Task WriteChallengeAsync(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        var detail = context.AuthenticateFailure switch
        {
            null => "A bearer token is required.",
            Microsoft.IdentityModel.Tokens.SecurityTokenExpiredException => "The bearer token has expired.",
            Microsoft.IdentityModel.Tokens.SecurityTokenNotYetValidException => "The bearer token is not valid yet.",
            Microsoft.IdentityModel.Tokens.SecurityTokenInvalidAudienceException => "The bearer token is for another audience.",
            Microsoft.IdentityModel.Tokens.SecurityTokenInvalidIssuerException => "The bearer token is from an untrusted issuer.",
            Microsoft.IdentityModel.Tokens.SecurityTokenSignatureKeyNotFoundException or Microsoft.IdentityModel.Tokens.SecurityTokenInvalidSignatureException => "The bearer token's signature is not valid.",
            Microsoft.IdentityModel.Tokens.SecurityTokenInvalidAlgorithmException => "The bearer token uses an algorithm that is not accepted.",
            _ => "The bearer token is not valid.",
        };
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        var problems = context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context.HttpContext,
            ProblemDetails = new ProblemDetails { Status = StatusCodes.Status401Unauthorized, Title = "Unauthorized", Detail = detail },
        }).ConfigureAwait(false);
    }

    /// <summary>Says what is wrong with a request the framework could not bind, naming the field but never a .NET type,
    /// the framework's own wording or more than a short escaped prefix of the caller's input.</summary>
    private static string Describe(BadHttpRequestException exception, HttpContext context)
    {
        if (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return EdgeValidation.BodyTooLarge(InputLimits.BodyLimitOf(EndpointName(context)));
        }

        if (exception.StatusCode == StatusCodes.Status415UnsupportedMediaType)
        {
            return "The request body must be JSON (Content-Type: application/json).";
        }

        if (exception.InnerException is System.Text.Json.JsonException json)
        {
            if (UnmappedProperty().Match(json.Message) is { Success: true } unmapped)
            {
                return $"The request body has an unknown field {ProblemText.Quote(unmapped.Groups[1].Value)}.";
            }

            var at = JsonField(json) is { } field ? $" (field {ProblemText.Quote(field)})" : string.Empty;
            return json.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal)
                ? $"The request body is not valid: a value has the wrong type{at}."
                : $"The request body is not valid JSON for this route{at}.";
        }

        if (exception.InnerException is System.Text.DecoderFallbackException)
        {
            return "The request body is not valid UTF-8.";
        }

        if (BoundParameter().Match(exception.Message) is { Success: true } parameter)
        {
            return $"The parameter {ProblemText.Quote(parameter.Groups[1].Value)} is not valid.";
        }

        return exception.Message.Contains("body", StringComparison.OrdinalIgnoreCase) && (exception.Message.StartsWith("Implicit body", StringComparison.Ordinal) || exception.Message.StartsWith("Required parameter", StringComparison.Ordinal))
            ? "The request body is required (a JSON object)."
            : "The request is not valid.";
    }

    private static string? Field(BadHttpRequestException exception, HttpContext context) => exception switch
    {
        { StatusCode: StatusCodes.Status413PayloadTooLarge or StatusCodes.Status415UnsupportedMediaType } => "body",
        { InnerException: System.Text.Json.JsonException json } => UnmappedProperty().Match(json.Message) is { Success: true } unmapped ? unmapped.Groups[1].Value is { Length: <= 64 } name ? name : "body" : JsonField(json) ?? "body",
        _ when BoundParameter().Match(exception.Message) is { Success: true } parameter => parameter.Groups[1].Value,
        _ => context.Request.HasJsonContentType() ? "body" : null,
    };

    private static string? JsonField(System.Text.Json.JsonException json) =>
        json.Path is { Length: > 2 and <= 128 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;

    private static string? EndpointName(HttpContext context) => EdgeValidation.Operation(context);

    [System.Text.RegularExpressions.GeneratedRegex("^The JSON property '(.*)' could not be mapped", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex UnmappedProperty();

    [System.Text.RegularExpressions.GeneratedRegex("""^Failed to bind parameter "(?:\S+ )?([A-Za-z0-9_]{1,64})" from""")]
    private static partial System.Text.RegularExpressions.Regex BoundParameter();

    [LoggerMessage(Level = LogLevel.Error, Message = "Request to {Path} failed.")]
    private static partial void LogFailure(ILogger logger, Exception exception, PathString path);
}
