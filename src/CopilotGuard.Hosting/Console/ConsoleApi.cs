using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using CopilotGuard;
using CopilotGuard.Audit;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting.Audit;
using CopilotGuard.Hosting.ComplianceConsole;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The compliance console: the page at <c>GET /console</c> and the read-only queries under <c>/v1/console</c> its views need.</summary>
/// <remarks>The page and its script hold no data and are served to anyone; every query needs a bearer token of a
/// compliance officer and is itself audited (an <c>audit-query</c> record with a <c>console:</c> target) before any
/// data is read. Lists are paged server-side and charts are aggregated in SQL, so the console stays usable on large logs.
/// Views that read the embedded SQLite files answer 501, naming the setting, when the store or audit log is elsewhere.</remarks>
internal static class ConsoleApi
{
    private static readonly ImmutableArray<string> DefaultEventKinds = ["anomaly-alert", "admin-suspend", "admin-resume", "label-change"];

    /// <summary>Maps the console page, its assets and its query routes.</summary>
    public static IEndpointRouteBuilder MapConsole(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var verifications = new LastVerification();
        app.MapGet("/console", () => ConsoleAssets.Serve("console.html")).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/console/{asset}", (string asset) => ConsoleAssets.Serve(asset)).AllowAnonymous().ExcludeFromDescription();

        var group = app.MapGroup("/v1/console");
        group.MapGet("/labels", GetLabelsAsync)
            .WithName("ConsoleLabels")
            .WithSummary("Lists the label taxonomy with colors and how many documents carry each label.");
        group.MapGet("/documents", ListDocumentsAsync)
            .WithName("ConsoleDocuments")
            .WithSummary("Lists documents as stored now, by id, optionally with a label or from a source; paged.");
        group.MapGet("/documents/{documentId}/label-history", GetLabelHistoryAsync)
            .WithName("ConsoleLabelHistory")
            .WithSummary("Lists a document's label changes from its label-change audit records, oldest first; paged.");
        group.MapGet("/accesses", GetAccessesAsync)
            .WithName("ConsoleAccesses")
            .WithSummary("Lists the retrievals of a document or about a data subject, filtered by time, principal and purpose; paged.");
        group.MapGet("/accesses.csv", ExportAccessesAsync)
            .WithName("ConsoleAccessesCsv")
            .WithSummary("Exports every retrieval matching the access filters as CSV.");
        group.MapGet("/activity", GetActivityAsync)
            .WithName("ConsoleActivity")
            .WithSummary("Counts retrievals per source and label, denials, post-filter drops, anomalies and suspensions per time bucket.");
        group.MapGet("/events", GetEventsAsync)
            .WithName("ConsoleEvents")
            .WithSummary("Lists audit records of some kinds (anomaly alerts, suspensions, label changes by default), newest first; paged.");
        group.MapGet("/integrity", (HttpContext context, ConsoleReadModel model, AuditService audit, CancellationToken cancellationToken) => GetIntegrityAsync(context, model, audit, verifications, cancellationToken))
            .WithName("ConsoleIntegrity")
            .WithSummary("Gets the log's size and head, the latest signed checkpoint and the last verification run from the console.");
        group.MapPost("/verify", (HttpContext context, AuditService audit, CancellationToken cancellationToken) => VerifyAsync(context, audit, verifications, cancellationToken))
            .WithName("ConsoleVerify")
            .WithSummary("Verifies the whole log now (as GET /v1/audit/verify) and remembers the result for the integrity view.");
        group.MapGet("/trace/{id}", TraceAsync)
            .WithName("ConsoleTrace")
            .WithSummary("Traces an answer (or one receipt) to its receipts, chunks, documents and sources.");
        return app;
    }

    /// <summary>Handles <c>GET /v1/console/labels</c>.</summary>
    public static async Task<JsonHttpResult<ConsoleLabelsResponse>> GetLabelsAsync(HttpContext context, ConsoleReadModel model, AuditService audit, RetrievalBroker broker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.RequireStore();
        var owned = await ConsoleAccess.AuthorizeLabelsAsync(context, broker, audit, model, "labels", cancellationToken).ConfigureAwait(false);
        var (counts, sources) = await model.CountLabelsAsync(cancellationToken, owned).ConfigureAwait(false);
        var taxonomy = broker.Policy.Labels.Labels;
        var colors = taxonomy.ToDictionary(static l => l.Name, static l => l.Color, StringComparer.Ordinal);
        var labels = taxonomy.Select(l => new ConsoleLabel(
            l.Name,
            l.DisplayName ?? l.Name,
            l.Color ?? (l.Parent is { } parent ? colors.GetValueOrDefault(parent) : null),
            l.Rank,
            l.Parent,
            counts.GetValueOrDefault(l.Name)));
        return TypedResults.Json(new ConsoleLabelsResponse([.. labels], [.. sources]), ConsoleJsonContext.Default.ConsoleLabelsResponse);
    }

    /// <summary>Handles <c>GET /v1/console/documents</c>.</summary>
    public static async Task<Results<JsonHttpResult<ConsoleDocumentsResponse>, ProblemHttpResult>> ListDocumentsAsync(
        string? label,
        string? source,
        int? limit,
        string? cursor,
        HttpContext context,
        ConsoleReadModel model, AuditService audit, RetrievalBroker broker,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Limit(limit) is not { } size)
        {
            return BadRequest($"limit must be between 1 and {ConsoleReadModel.MaxLimit}.");
        }

        model.RequireStore();
        var owned = await ConsoleAccess.AuthorizeLabelsAsync(context, broker, audit, model, $"documents label={Empty(label)} source={Empty(source)}", cancellationToken).ConfigureAwait(false);
        var (documents, next) = await model.ListDocumentsAsync(Empty(label), Empty(source), size, Empty(cursor), cancellationToken, owned).ConfigureAwait(false);
        return TypedResults.Json(new ConsoleDocumentsResponse([.. documents], next), ConsoleJsonContext.Default.ConsoleDocumentsResponse);
    }

    /// <summary>Handles <c>GET /v1/console/documents/{documentId}/label-history</c>.</summary>
    public static async Task<Results<JsonHttpResult<LabelHistoryResponse>, ProblemHttpResult>> GetLabelHistoryAsync(
        string documentId,
        int? limit,
        string? cursor,
        HttpContext context,
        ConsoleReadModel model, AuditService audit, RetrievalBroker broker,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Limit(limit) is not { } size || Sequence(cursor) is not { } after)
        {
            return BadPage();
        }

        model.RequireStore();
        model.RequireAudit();
        var owned = await ConsoleAccess.AuthorizeLabelsAsync(context, broker, audit, model, "label-history:" + documentId, cancellationToken).ConfigureAwait(false);
        var current = (await model.GetDocumentsAsync([documentId], cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        if (owned is not null && (current is null || !owned.Contains(current.Source)))
        {
            throw new GuardException(GuardErrorKind.NotFound, $"No document '{documentId}' of a source you own was found.");
        }

        var (changes, next) = await model.GetLabelHistoryAsync(documentId, size, after, cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(new LabelHistoryResponse(documentId, current, [.. changes], Cursor(next)), ConsoleJsonContext.Default.LabelHistoryResponse);
    }

    /// <summary>Handles <c>GET /v1/console/accesses</c>: exactly one of <paramref name="document"/> and <paramref name="subject"/>.</summary>
    public static async Task<Results<JsonHttpResult<ConsoleAccessesResponse>, ProblemHttpResult>> GetAccessesAsync(
        string? document,
        string? subject,
        DateTimeOffset? from,
        DateTimeOffset? to,
        string? principal,
        string? purpose,
        int? limit,
        string? cursor,
        HttpContext context,
        ConsoleReadModel model, AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Filter(document, subject, from, to, principal, purpose) is not { } filter)
        {
            return BadRequest("Give exactly one of document and subject.");
        }

        if (Limit(limit) is not { } size || Sequence(cursor) is not { } after)
        {
            return BadPage();
        }

        await ConsoleAccess.AuthorizeAsync(context, audit, Describe(filter), cancellationToken).ConfigureAwait(false);
        model.RequireAudit();
        var (entries, next) = await model.GetAccessesAsync(filter, size, after, cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(new ConsoleAccessesResponse([.. entries.Select(e => Access.From(e, Concerns(filter)))], Cursor(next)), ConsoleJsonContext.Default.ConsoleAccessesResponse);
    }

    /// <summary>Handles <c>GET /v1/console/accesses.csv</c>: every matching retrieval, one chunk per row, streamed page by page.</summary>
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ExportAccessesAsync(
        string? document,
        string? subject,
        DateTimeOffset? from,
        DateTimeOffset? to,
        string? principal,
        string? purpose,
        HttpContext context,
        ConsoleReadModel model, AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(model);
        if (Filter(document, subject, from, to, principal, purpose) is not { } filter)
        {
            return BadRequest("Give exactly one of document and subject.");
        }

        await ConsoleAccess.AuthorizeAsync(context, audit, "export " + Describe(filter), cancellationToken).ConfigureAwait(false);
        model.RequireAudit();
        var name = new string([.. (filter.DocumentId ?? filter.SubjectId ?? "accesses").Select(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')]);
        context.Response.ContentType = "text/csv; charset=utf-8";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"accesses-{name}.csv\"";
        context.Response.Headers.CacheControl = "no-store";
        var writer = new StreamWriter(context.Response.Body, new UTF8Encoding(false));
        await using (writer.ConfigureAwait(false))
        {
            await writer.WriteLineAsync("time,receiptId,sequence,principal,agent,purpose,destination,conversationId,policyVersion,chunkId,documentId,version,label,contentSha256").ConfigureAwait(false);
            long after = 0;
            while (true)
            {
                var (entries, next) = await model.GetAccessesAsync(filter, ConsoleReadModel.MaxLimit, after, cancellationToken).ConfigureAwait(false);
                foreach (var access in entries.Select(e => Access.From(e, Concerns(filter))))
                {
                    foreach (var chunk in access.Chunks)
                    {
                        await writer.WriteLineAsync(string.Join(',', [
                            Csv(access.Time.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)), Csv(access.ReceiptId), access.Sequence.ToString(CultureInfo.InvariantCulture),
                            Csv(access.Principal), Csv(access.Agent), Csv(access.Purpose), Csv(access.Destination), Csv(access.ConversationId), Csv(access.PolicyVersion),
                            Csv(chunk.Id), Csv(chunk.DocumentId), chunk.Version.ToString(CultureInfo.InvariantCulture), Csv(chunk.Label), Csv(chunk.ContentSha256)])).ConfigureAwait(false);
                    }
                }

                if (next is not { } more)
                {
                    break;
                }

                after = more;
            }
        }

        return TypedResults.Empty;
    }

    /// <summary>Handles <c>GET /v1/console/activity</c>; the range defaults to the last 24 hours.</summary>
    public static async Task<Results<JsonHttpResult<ActivityResponse>, ProblemHttpResult>> GetActivityAsync(
        DateTimeOffset? from,
        DateTimeOffset? to,
        string? bucket,
        HttpContext context,
        ConsoleReadModel model, AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        var end = to ?? DateTimeOffset.UtcNow;
        var start = from ?? end.AddDays(-1);
        if (ActivityBucketSize.Parse(bucket) is not { } size)
        {
            return BadRequest("bucket must be minute, hour or day.");
        }

        if (start >= end || (end - start).Ticks / size.Step.Ticks > ActivityBucketSize.MaxBuckets)
        {
            return BadRequest($"from must be before to, and the range must hold at most {ActivityBucketSize.MaxBuckets} buckets.");
        }

        await ConsoleAccess.AuthorizeAsync(context, audit, "activity", cancellationToken).ConfigureAwait(false);
        model.RequireAudit();
        var activity = await model.GetActivityAsync(start, end, size, cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(activity, ConsoleJsonContext.Default.ActivityResponse);
    }

    /// <summary>Handles <c>GET /v1/console/events</c>; <paramref name="kinds"/> is a comma-separated list of record kinds.</summary>
    public static async Task<Results<JsonHttpResult<ConsoleEventsResponse>, ProblemHttpResult>> GetEventsAsync(
        string? kinds,
        string? principal,
        DateTimeOffset? from,
        DateTimeOffset? to,
        int? limit,
        string? cursor,
        HttpContext context,
        ConsoleReadModel model, AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Limit(limit) is not { } size || Sequence(cursor) is not { } before)
        {
            return BadPage();
        }

        var wanted = Empty(kinds) is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToArray()
            : [.. DefaultEventKinds];
        await ConsoleAccess.AuthorizeAsync(context, audit, "events", cancellationToken).ConfigureAwait(false);
        model.RequireAudit();
        var (events, next) = await model.GetEventsAsync(wanted, Empty(principal), from, to, size, before == 0 ? null : before, cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(new ConsoleEventsResponse([.. events], Cursor(next)), ConsoleJsonContext.Default.ConsoleEventsResponse);
    }

    /// <summary>Handles <c>GET /v1/console/trace/{id}</c>: an id starting with <c>ans_</c> is traced as an answer, any other as a receipt.</summary>
    /// <remarks>Authorization and the audit record come from <see cref="AuditService"/>, exactly as for <c>GET /v1/audit/answers/{id}</c> and <c>/receipts/{id}</c>.</remarks>
    public static async Task<Results<JsonHttpResult<ConsoleTraceResponse>, ProblemHttpResult>> TraceAsync(string id, HttpContext context, ConsoleReadModel model, AuditService audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(model);
        var caller = DevelopmentIssuer.ReadCaller(context.User)
            ?? throw new GuardException(GuardErrorKind.Forbidden, DevelopmentIssuer.MissingCallerMessage);
        var requester = AuditRequester.Remote(caller, context.Connection.RemoteIpAddress?.ToString());
        TraceAnswer? answer = null;
        IReadOnlyList<AuditEntry> receipts;
        ImmutableArray<string> answersOfReceipt = [];
        HashSet<string>? cited = null;
        if (id.StartsWith("ans_", StringComparison.Ordinal))
        {
            var trace = await audit.TraceAnswerAsync(requester, id, cancellationToken).ConfigureAwait(false);
            if (trace is null)
            {
                return NotFound($"No answer has the id '{id}'.");
            }

            var record = trace.Answer.Record;
            answer = new TraceAnswer(record.RecordId, record.Time, record.SubjectId, record.ActorId, record.Answer!.Model, record.Answer.AnswerSha256);
            cited = record.Answer.CitedChunkIds.IsDefaultOrEmpty ? null : record.Answer.CitedChunkIds.ToHashSet(StringComparer.Ordinal);
            receipts = trace.Receipts;
        }
        else
        {
            var trace = await audit.GetReceiptAsync(requester, id, cancellationToken).ConfigureAwait(false);
            if (trace is null)
            {
                return NotFound($"No record has the id '{id}'.");
            }

            receipts = [trace.Receipt];
            answersOfReceipt = [.. trace.Answers.Select(static a => a.Record.RecordId)];
        }

        var traced = receipts.Select(entry => ToReceipt(entry, cited)).ToImmutableArray();
        var documentIds = traced.SelectMany(static r => r.Chunks.Select(static c => c.DocumentId)).ToHashSet(StringComparer.Ordinal);
        var documents = await model.GetDocumentsAsync(documentIds, cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(new ConsoleTraceResponse(answer, traced, [.. documents], answersOfReceipt), ConsoleJsonContext.Default.ConsoleTraceResponse);
    }

    private static async Task<JsonHttpResult<IntegrityResponse>> GetIntegrityAsync(HttpContext context, ConsoleReadModel model, AuditService audit, LastVerification verifications, CancellationToken cancellationToken)
    {
        await ConsoleAccess.AuthorizeAsync(context, audit, "integrity", cancellationToken).ConfigureAwait(false);
        model.RequireAudit();
        var (records, head, checkpoints, latest) = await model.GetIntegrityAsync(cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(new IntegrityResponse(records, head, checkpoints, latest, verifications.Current), ConsoleJsonContext.Default.IntegrityResponse);
    }

    private static async Task<JsonHttpResult<ConsoleVerification>> VerifyAsync(HttpContext context, AuditService audit, LastVerification verifications, CancellationToken cancellationToken)
    {
        var caller = DevelopmentIssuer.ReadCaller(context.User)
            ?? throw new GuardException(GuardErrorKind.Forbidden, DevelopmentIssuer.MissingCallerMessage);
        var result = await audit.VerifyAsync(AuditRequester.Remote(caller, context.Connection.RemoteIpAddress?.ToString()), cancellationToken).ConfigureAwait(false);
        var verification = new ConsoleVerification(DateTimeOffset.UtcNow, caller.SubjectId, VerifyResponse.From(result));
        verifications.Current = verification;
        return TypedResults.Json(verification, ConsoleJsonContext.Default.ConsoleVerification);
    }

    private static TraceReceipt ToReceipt(AuditEntry entry, HashSet<string>? cited)
    {
        var r = entry.Record;
        return new TraceReceipt(
            r.RecordId, entry.Sequence, r.Kind, r.Time, r.SubjectId, r.ActorId, r.Purpose, r.Destination, r.PolicyVersion, r.Decision,
            r.DecidingRules, r.PushedFilter, r.PushdownExact, r.PostFilterDrops,
            [.. r.Chunks.Select(c => new TraceChunk(c.ChunkId, c.DocumentId, c.Version, c.Label, c.Score, c.ContentSha256, cited?.Contains(c.ChunkId), c.Subjects, c.FieldsWithheld, c.AnonymizedEntities))]);
    }

    private static AccessFilter? Filter(string? document, string? subject, DateTimeOffset? from, DateTimeOffset? to, string? principal, string? purpose) =>
        (Empty(document) is null) == (Empty(subject) is null) ? null : new AccessFilter(Empty(document), Empty(subject), from, to, Empty(principal), Empty(purpose));

    private static Func<AuditedChunk, bool> Concerns(AccessFilter filter) =>
        filter.DocumentId is { } document ? c => c.DocumentId == document : c => c.Subjects.Contains(filter.SubjectId!);

    private static string Describe(AccessFilter filter) =>
        filter.DocumentId is { } document ? "document:" + document : "subject:" + filter.SubjectId;

    private static string? Empty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int? Limit(int? limit) => (limit ?? 50) is var size and >= 1 and <= ConsoleReadModel.MaxLimit ? size : null;

    private static long? Sequence(string? cursor) =>
        cursor is null ? 0 : long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static string? Cursor(long? next) => next?.ToString(CultureInfo.InvariantCulture);

    /// <summary>Quotes a CSV cell, and defuses cells a spreadsheet would read as a formula.</summary>
    private static string Csv(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        var text = value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' ? "'" + value : value;
        return text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }

    private static ProblemHttpResult BadRequest(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    private static ProblemHttpResult BadPage() =>
        BadRequest($"limit must be between 1 and {ConsoleReadModel.MaxLimit}, and cursor must be the nextCursor of a previous page.");

    private static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    /// <summary>The last verification run from the console on this instance.</summary>
    private sealed class LastVerification
    {
        private ConsoleVerification? _current;

        public ConsoleVerification? Current
        {
            get => Volatile.Read(ref _current);
            set => Volatile.Write(ref _current, value);
        }
    }
}
