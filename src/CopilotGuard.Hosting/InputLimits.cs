using System.Collections.Frozen;
using System.Globalization;

namespace CopilotGuard.Hosting;

/// <summary>How a caller-supplied string may look besides its length.</summary>
internal enum InputShape
{
    /// <summary>One line: no control characters (C0, DEL, C1) and no unpaired surrogates.</summary>
    Line,

    /// <summary>Free text: tabs and line breaks allowed; no other control character (NUL included) and no unpaired surrogates.</summary>
    Text,
}

/// <summary>The limit of one caller-supplied field.</summary>
/// <param name="MaxLength">The most UTF-16 characters the field may hold.</param>
/// <param name="Shape">Which characters it may hold.</param>
/// <param name="MaxItems">For a list (e.g. <c>receiptIds</c>), the most items; 1 for a single value.</param>
internal sealed record FieldLimit(int MaxLength, InputShape Shape = InputShape.Line, int MaxItems = 1);

/// <summary>What is wrong with one field of a request.</summary>
/// <param name="Field">The field's wire name.</param>
/// <param name="Detail">What is wrong, naming the field and the limit; never the value.</param>
public sealed record FieldProblem(string Field, string Detail);

/// <summary>A JSON request body whose fields are checked against <see cref="InputLimits"/> before the handler runs.</summary>
public interface ILimitedBody
{
    /// <summary>Checks every field against the table.</summary>
    /// <returns>The first field over its limit, or <see langword="null"/>.</returns>
    FieldProblem? CheckLimits();
}

/// <summary>The one table of limits on what a caller can send: every string that can reach an audit record, a log
/// line or a response, the request body size per route, query-string and paging limits and the accepted date range.</summary>
/// <remarks>Enforced at the edge (<see cref="EdgeValidation"/> and <see cref="BodyLimitFilter"/>) before any handler
/// runs; a violation is a 400 (413 for a body over its route's size) whose problem names the field and the limit.
/// docs/input-limits.md lists the same table.</remarks>
internal static class InputLimits
{
    /// <summary>The body size limit of routes that take no JSON body (GETs, bodiless POSTs).</summary>
    public const long NoBodyBytes = 1024;

    /// <summary>The body size limit of a JSON route not listed in <see cref="BodyBytes"/>.</summary>
    public const long DefaultBodyBytes = 16 * 1024;

    /// <summary>The longest query string (everything after <c>?</c>), in characters.</summary>
    public const int MaxQueryStringLength = 4096;

    /// <summary>The longest paging cursor, in digits (a sequence number).</summary>
    public const int MaxCursorDigits = 19;

    /// <summary>The largest <c>limit</c> any paged route accepts (routes may accept fewer).</summary>
    public const int MaxPageLimit = 1000;

    /// <summary>The earliest date a <c>from</c>/<c>to</c> query parameter may name.</summary>
    public static readonly DateTimeOffset MinDate = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The latest date a <c>from</c>/<c>to</c> query parameter may name.</summary>
    public static readonly DateTimeOffset MaxDate = new(2100, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Every caller-supplied field, by its wire name (body property, route value or query parameter).</summary>
    public static readonly FrozenDictionary<string, FieldLimit> Fields = new Dictionary<string, FieldLimit>(StringComparer.Ordinal)
    {
        // Principals: token subject and actor, explain's user and agent, admin targets, console filters.
        ["sub"] = new(256),
        ["act"] = new(256),
        ["user"] = new(256),
        ["agent"] = new(256),
        ["id"] = new(256),
        ["principal"] = new(256),
        ["subjectId"] = new(256),
        ["subject"] = new(256),

        // Request attributes recorded with every retrieval and explanation.
        ["purpose"] = new(256),
        ["destination"] = new(256),
        ["conversationId"] = new(256),
        ["mode"] = new(16),

        // Store and audit identifiers.
        ["chunkId"] = new(512),
        ["citedChunkIds"] = new(512, MaxItems: 1000),
        ["documentId"] = new(512),
        ["document"] = new(512),
        ["receiptId"] = new(128),
        ["receiptIds"] = new(128, MaxItems: 100),
        ["answerId"] = new(128),
        ["label"] = new(128),
        ["source"] = new(128),
        ["kinds"] = new(512),
        ["bucket"] = new(16),
        ["asset"] = new(128),
        ["documentName"] = new(32),
        ["answerSha256"] = new(64),
        ["model"] = new(256),
        ["reason"] = new(512),

        // Free text: the query (never stored, only its keyed hash), texts to restore and answers (only their hash is stored).
        ["query"] = new(4096, InputShape.Text),
        ["text"] = new(100_000, InputShape.Text),
        ["answer"] = new(100_000, InputShape.Text),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The request body limit of each route that takes a JSON body, by endpoint name; every other route gets <see cref="NoBodyBytes"/>.</summary>
    public static readonly FrozenDictionary<string, long> BodyBytes = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["Retrieve"] = 32 * 1024,
        ["ExplainPolicy"] = DefaultBodyBytes,
        ["SetDocumentLabel"] = 4 * 1024,
        ["SuspendPrincipal"] = 4 * 1024,
        ["Deanonymize"] = 1024 * 1024,
        ["RegisterAnswer"] = 1024 * 1024,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The query parameters a route may take, by name; any other query parameter is refused.</summary>
    public static readonly FrozenSet<string> QueryParameters = FrozenSet.ToFrozenSet(
        ["limit", "cursor", "from", "to", "bucket", "kinds", "principal", "purpose", "label", "source", "document", "subject"],
        StringComparer.Ordinal);

    /// <summary>Gets the body limit of a route.</summary>
    public static long BodyLimitOf(string? endpointName) =>
        endpointName is not null && BodyBytes.TryGetValue(endpointName, out var bytes) ? bytes : NoBodyBytes;

    /// <summary>Checks one value of a field against its limit.</summary>
    /// <returns>What is wrong, naming the field and the limit, or <see langword="null"/> when the value is acceptable
    /// (a field without a limit is refused: every field must be in the table).</returns>
    public static FieldProblem? Check(string field, string? value)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (!Fields.TryGetValue(field, out var limit))
        {
            return new(field, $"{field} is not an accepted field.");
        }

        if (value is null)
        {
            return null;
        }

        if (value.Length > limit.MaxLength)
        {
            return new(field, $"{field} is {value.Length.ToString(CultureInfo.InvariantCulture)} characters long; the limit is {limit.MaxLength.ToString(CultureInfo.InvariantCulture)}.");
        }

        return FindBadCharacter(value, limit.Shape) is { } index
            ? new(field, $"{field} holds a character that is not allowed (a control character or an unpaired surrogate) at position {index.ToString(CultureInfo.InvariantCulture)}.")
            : null;
    }

    /// <summary>Checks a list field: its item count and every item.</summary>
    public static FieldProblem? CheckList(string field, IReadOnlyCollection<string?>? values)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (values is null)
        {
            return null;
        }

        if (!Fields.TryGetValue(field, out var limit))
        {
            return new(field, $"{field} is not an accepted field.");
        }

        if (values.Count > limit.MaxItems)
        {
            return new(field, $"{field} holds {values.Count.ToString(CultureInfo.InvariantCulture)} items; the limit is {limit.MaxItems.ToString(CultureInfo.InvariantCulture)}.");
        }

        foreach (var value in values)
        {
            if (Check(field, value) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>Parses a date query parameter: ISO 8601, between <see cref="MinDate"/> and <see cref="MaxDate"/>.</summary>
    public static FieldProblem? CheckDate(string field, string value, out DateTimeOffset date)
    {
        if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out date))
        {
            return new(field, $"{field} must be an ISO 8601 date and time, e.g. 2026-12-01T00:00:00Z.");
        }

        return date < MinDate || date > MaxDate
            ? new(field, $"{field} must be between {MinDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} and {MaxDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}.")
            : null;
    }

    private static int? FindBadCharacter(string value, InputShape shape)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                {
                    i++;
                    continue;
                }

                return i;
            }

            if (char.IsLowSurrogate(c))
            {
                return i;
            }

            if (char.IsControl(c) && !(shape == InputShape.Text && c is '\t' or '\n' or '\r'))
            {
                return i;
            }
        }

        return null;
    }
}
