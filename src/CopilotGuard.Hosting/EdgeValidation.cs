using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;

namespace CopilotGuard.Hosting;

/// <summary>Enforces <see cref="InputLimits"/> on everything outside the JSON body before a handler runs: the route's
/// request body size (through <see cref="IHttpMaxRequestBodySizeFeature"/> and the declared length), the query string
/// (known parameters only, once each, in range) and route values.</summary>
internal static class EdgeValidation
{
    /// <summary>The key of the last problem's field and detail in <see cref="HttpContext.Items"/>, for the refusal record.</summary>
    public const string ProblemItem = "CopilotGuard.Problem";

    /// <summary>The key of the route's operation name (endpoint name, else route pattern) in <see cref="HttpContext.Items"/>,
    /// kept because the exception handler clears the endpoint before a failure is described and recorded.</summary>
    public const string OperationItem = "CopilotGuard.Operation";

    /// <summary>Gets the operation name of a request: its endpoint name, else its route pattern.</summary>
    public static string? Operation(HttpContext context) =>
        context.Items[OperationItem] as string
        ?? context.GetEndpoint() switch
        {
            null => null,
            var endpoint => endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? (endpoint as RouteEndpoint)?.RoutePattern.RawText,
        };

    /// <summary>Adds the middleware; it must run after routing (it reads the endpoint).</summary>
    public static IApplicationBuilder UseEdgeValidation(this IApplicationBuilder app) => app.Use(static (context, next) =>
    {
        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            return next(context);
        }

        var name = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;
        context.Items[OperationItem] = name ?? (endpoint as RouteEndpoint)?.RoutePattern.RawText;
        var bodyLimit = InputLimits.BodyLimitOf(name);
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = bodyLimit;
        }

        if (context.Request.ContentLength > bodyLimit)
        {
            return WriteAsync(context, StatusCodes.Status413PayloadTooLarge, new FieldProblem("body", BodyTooLarge(bodyLimit)));
        }

        return Validate(context) is { } problem
            ? WriteAsync(context, StatusCodes.Status400BadRequest, problem)
            : next(context);
    });

    /// <summary>The problem of a body over its route's limit.</summary>
    public static string BodyTooLarge(long bytes) =>
        $"The request body is larger than this route's limit of {bytes.ToString(CultureInfo.InvariantCulture)} bytes.";

    /// <summary>Writes a 400 problem naming a field.</summary>
    public static Task WriteAsync(HttpContext context, int status, FieldProblem problem)
    {
        context.Response.StatusCode = status;
        var details = new ProblemDetails
        {
            Status = status,
            Title = status == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Invalid request",
            Detail = problem.Detail,
            Extensions = { ["field"] = problem.Field },
        };
        return context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = details }).AsTask();
    }

    private static FieldProblem? Validate(HttpContext context)
    {
        var query = context.Request.QueryString.Value ?? string.Empty;
        if (query.Length > InputLimits.MaxQueryStringLength)
        {
            return new("query string", $"The query string is {query.Length.ToString(CultureInfo.InvariantCulture)} characters long; the limit is {InputLimits.MaxQueryStringLength.ToString(CultureInfo.InvariantCulture)}.");
        }

        foreach (var (key, values) in context.Request.Query)
        {
            if (!InputLimits.QueryParameters.Contains(key))
            {
                return new(ProblemText.Quote(key), $"Unknown query parameter {ProblemText.Quote(key)}; accepted: {string.Join(", ", InputLimits.QueryParameters.Order(StringComparer.Ordinal))}.");
            }

            if (values.Count != 1)
            {
                return new(key, $"{key} must be given once.");
            }

            if (CheckQueryValue(key, values[0] ?? string.Empty) is { } problem)
            {
                return problem;
            }
        }

        foreach (var (key, value) in context.Request.RouteValues)
        {
            if (value is string text && InputLimits.Check(key, text) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static FieldProblem? CheckQueryValue(string key, string value) => key switch
    {
        "limit" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= InputLimits.MaxPageLimit
            ? null
            : new(key, $"limit must be a whole number between 1 and {InputLimits.MaxPageLimit.ToString(CultureInfo.InvariantCulture)} (routes may accept fewer)."),
        "cursor" => value.Length is >= 1 and <= InputLimits.MaxCursorDigits && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            ? null
            : new(key, "cursor must be the nextCursor of a previous page."),
        "from" or "to" => InputLimits.CheckDate(key, value, out _),
        _ => InputLimits.Check(key, value),
    };
}

/// <summary>Checks a JSON body (<see cref="ILimitedBody"/>) against <see cref="InputLimits"/> before the handler runs.</summary>
internal sealed class BodyLimitFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var argument in context.Arguments)
        {
            if (argument is ILimitedBody body && body.CheckLimits() is { } problem)
            {
                return TypedResults.Problem(problem.Detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request", extensions: new Dictionary<string, object?>(StringComparer.Ordinal) { ["field"] = problem.Field });
            }
        }

        return await next(context).ConfigureAwait(false);
    }
}

/// <summary>Keeps problem details short and free of caller input beyond a short escaped prefix, and of .NET type names.</summary>
internal static partial class ProblemText
{
    /// <summary>The most characters of a caller's value a problem quotes.</summary>
    public const int MaxQuoted = 64;

    /// <summary>The longest problem detail.</summary>
    public const int MaxDetail = 600;

    /// <summary>Quotes a caller's value for a message: at most <see cref="MaxQuoted"/> characters, control characters and
    /// unpaired surrogates escaped, and an ellipsis when cut.</summary>
    public static string Quote(string? value)
    {
        if (value is null)
        {
            return "''";
        }

        var builder = new StringBuilder("'");
        var count = 0;
        for (var i = 0; i < value.Length && count < MaxQuoted; i++, count++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                builder.Append(c).Append(value[++i]);
            }
            else if (char.IsControl(c) || char.IsSurrogate(c) || c is '\'' or '\\')
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.Append(value.Length > MaxQuoted ? "…'" : "'").ToString();
    }

    /// <summary>Sanitizes a problem detail written by any part of the server: each single-quoted span is re-quoted with
    /// <see cref="Quote"/>, control characters are escaped, .NET type names are removed, and the whole is capped.</summary>
    public static string Sanitize(string detail)
    {
        ArgumentNullException.ThrowIfNull(detail);
        var builder = new StringBuilder(Math.Min(detail.Length, MaxDetail + 16));
        var i = 0;
        while (i < detail.Length && builder.Length < MaxDetail)
        {
            var c = detail[i];
            if (c == '\'')
            {
                // A quoted value runs to the next quote followed by a boundary (end, space or punctuation), so a quote
                // inside a caller's value does not end it early.
                var end = FindClosingQuote(detail, i + 1);
                if (end > i)
                {
                    builder.Append(Quote(detail[(i + 1)..end]));
                    i = end + 1;
                    continue;
                }
            }

            if (char.IsControl(c) || (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < detail.Length && char.IsLowSurrogate(detail[i + 1]))))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }

            i++;
        }

        var text = builder.Length >= MaxDetail || i < detail.Length ? builder.ToString(0, Math.Min(builder.Length, MaxDetail)) + "…" : builder.ToString();
        return TypeName().Replace(text, "a server type");
    }

    private static int FindClosingQuote(string text, int start)
    {
        var last = -1;
        for (var j = start; j < text.Length; j++)
        {
            if (text[j] == '\'' && (j + 1 == text.Length || text[j + 1] is ' ' or '.' or ',' or ';' or ':' or ')' or '\n'))
            {
                last = j;
                if (j + 1 == text.Length || text[j + 1] is ' ' or ',' or ';' or ')' or '\n' || (text[j + 1] == '.' && (j + 2 == text.Length || text[j + 2] == ' ')))
                {
                    return j;
                }
            }
        }

        return last;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\b(?:System|Microsoft|CopilotGuard)(?:\.[A-Za-z_][A-Za-z0-9_`]*)+(?:\[[^\]]*\])?")]
    private static partial System.Text.RegularExpressions.Regex TypeName();
}
