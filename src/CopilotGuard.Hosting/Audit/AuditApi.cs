using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CopilotGuard.Audit;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;

namespace CopilotGuard.Hosting.Audit;

/// <summary>Answer registration (<c>POST /v1/answers</c>) and the compliance queries under <c>/v1/audit</c>.</summary>
/// <remarks>The queries are for principals with the compliance role only (checked against the directory, not the token),
/// and each call is itself audited before any data is read.</remarks>
internal static class AuditApi
{
    /// <summary>Registers the JSON contracts of the audit routes.</summary>
    public static IServiceCollection AddAuditApi(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Configure<JsonOptions>(options => options.SerializerOptions.TypeInfoResolverChain.Add(AuditApiJsonContext.Default));
        services.AddAuditRetention();
        return services;
    }

    /// <summary>Maps the answer and audit routes.</summary>
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("/v1").MapPost("/answers", RegisterAnswerAsync)
            .WithName("RegisterAnswer")
            .WithSummary("Binds an answer (its SHA-256, never its text) and the model to the receipts that grounded it.");
        var audit = app.MapGroup("/v1/audit");
        audit.MapGet("/answers/{answerId}", TraceAnswerAsync)
            .WithName("TraceAnswer")
            .WithSummary("Lists the receipts and the exact chunks (id, document, version, content hash, label) behind an answer.");
        audit.MapGet("/receipts/{receiptId}", GetReceiptAsync)
            .WithName("GetReceipt")
            .WithSummary("Gets one record as stored, with its chain position and the answers bound to it.");
        audit.MapGet("/documents/{documentId}/accesses", GetDocumentAccessesAsync)
            .WithName("GetDocumentAccesses")
            .WithSummary("Lists every retrieval that returned a chunk of a document, oldest first.");
        audit.MapGet("/subjects/{subjectId}/accesses", GetSubjectAccessesAsync)
            .WithName("GetSubjectAccesses")
            .WithSummary("Lists every retrieval that returned data about a data subject: when, who, why and where it went.");
        audit.MapGet("/verify", VerifyAsync)
            .WithName("VerifyAudit")
            .WithSummary("Verifies the whole log (chain, signed checkpoints, indexes) and names the first bad entry or checkpoint.");
        return app;
    }

    /// <summary>Handles <c>POST /v1/answers</c>.</summary>
    public static async Task<Results<Created<AnswerCreated>, ProblemHttpResult>> RegisterAnswerAsync(
        AnswerBody body,
        HttpContext context,
        AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(audit);
        var caller = DevelopmentIssuer.ReadCaller(context.User);
        if (caller is null)
        {
            return Unauthorized();
        }

        if (body is null)
        {
            return TypedResults.Problem("The request body is required.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }

        try
        {
            var answer = await audit.RegisterAnswerAsync(
                caller,
                new AnswerRegistration
                {
                    ReceiptIds = body.ReceiptIds ?? [],
                    Answer = body.Answer,
                    AnswerSha256 = body.AnswerSha256,
                    Model = body.Model,
                    CitedChunkIds = body.CitedChunkIds ?? [],
                    ClientAddress = context.Connection.RemoteIpAddress?.ToString(),
                },
                cancellationToken).ConfigureAwait(false);
            return TypedResults.Created($"/v1/audit/answers/{Uri.EscapeDataString(answer.AnswerId)}", new AnswerCreated(answer.AnswerId, answer.AnswerSha256));
        }
        catch (AuditNotFoundException exception)
        {
            return NotFound(exception.Message);
        }
    }

    /// <summary>Handles <c>GET /v1/audit/answers/{answerId}</c>.</summary>
    public static async Task<Results<Ok<AnswerTraceResponse>, ProblemHttpResult>> TraceAnswerAsync(string answerId, HttpContext context, AuditService audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        if (Requester(context) is not { } requester)
        {
            return Unauthorized();
        }

        try
        {
            var trace = await audit.TraceAnswerAsync(requester, answerId, cancellationToken).ConfigureAwait(false);
            return trace is null ? NotFound($"No answer has the id '{answerId}'.") : TypedResults.Ok(AnswerTraceResponse.From(trace));
        }
        catch (AuditRecordExpiredException exception)
        {
            return Gone(exception);
        }
    }

    /// <summary>Handles <c>GET /v1/audit/receipts/{receiptId}</c>.</summary>
    public static async Task<Results<Ok<ReceiptResponse>, ProblemHttpResult>> GetReceiptAsync(string receiptId, HttpContext context, AuditService audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        if (Requester(context) is not { } requester)
        {
            return Unauthorized();
        }

        try
        {
            var trace = await audit.GetReceiptAsync(requester, receiptId, cancellationToken).ConfigureAwait(false);
            return trace is null
                ? NotFound($"No record has the id '{receiptId}'.")
                : TypedResults.Ok(new ReceiptResponse(trace.Receipt.Sequence, trace.Receipt.Hash, trace.Receipt.Record, [.. trace.Answers.Select(static a => a.Record.RecordId)]));
        }
        catch (AuditRecordExpiredException exception)
        {
            return Gone(exception);
        }
    }

    /// <summary>Handles <c>GET /v1/audit/documents/{documentId}/accesses</c>.</summary>
    public static async Task<Results<Ok<DocumentAccessesResponse>, ProblemHttpResult>> GetDocumentAccessesAsync(
        string documentId,
        int? limit,
        string? cursor,
        HttpContext context,
        AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        if (Requester(context) is not { } requester)
        {
            return Unauthorized();
        }

        if (Page(limit, cursor) is not { } page)
        {
            return BadPage();
        }

        var result = await audit.GetDocumentAccessesAsync(requester, documentId, page, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new DocumentAccessesResponse(
            documentId,
            [.. result.Entries.Select(e => Access.From(e, c => c.DocumentId == documentId))],
            Cursor(result.NextAfterSequence)));
    }

    /// <summary>Handles <c>GET /v1/audit/subjects/{subjectId}/accesses</c>.</summary>
    public static async Task<Results<Ok<SubjectAccessesResponse>, ProblemHttpResult>> GetSubjectAccessesAsync(
        string subjectId,
        int? limit,
        string? cursor,
        HttpContext context,
        AuditService audit,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        if (Requester(context) is not { } requester)
        {
            return Unauthorized();
        }

        if (Page(limit, cursor) is not { } page)
        {
            return BadPage();
        }

        var result = await audit.GetSubjectAccessesAsync(requester, subjectId, page, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new SubjectAccessesResponse(
            subjectId,
            [.. result.Entries.Select(e => Access.From(e, c => c.Subjects.Contains(subjectId)))],
            Cursor(result.NextAfterSequence)));
    }

    /// <summary>Handles <c>GET /v1/audit/verify</c>.</summary>
    public static async Task<Results<Ok<VerifyResponse>, ProblemHttpResult>> VerifyAsync(HttpContext context, AuditService audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        if (Requester(context) is not { } requester)
        {
            return Unauthorized();
        }

        return TypedResults.Ok(VerifyResponse.From(await audit.VerifyAsync(requester, cancellationToken).ConfigureAwait(false)));
    }

    private static AuditRequester? Requester(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return DevelopmentIssuer.ReadCaller(context.User) is { } caller
            ? AuditRequester.Remote(caller, context.Connection.RemoteIpAddress?.ToString())
            : null;
    }

    private static AuditPageRequest? Page(int? limit, string? cursor)
    {
        long after = 0;
        if (cursor is not null && (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out after) || after < 0))
        {
            return null;
        }

        var size = limit ?? 100;
        return size is < 1 or > AuditPageRequest.MaxLimit ? null : new AuditPageRequest(size, after);
    }

    private static string? Cursor(long? next) => next?.ToString(CultureInfo.InvariantCulture);

    private static ProblemHttpResult Unauthorized() =>
        DevelopmentIssuer.MissingCallerProblem();

    private static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    /// <summary>Answers 410 Gone for a record that expired under retention, saying when and by which retention record.</summary>
    private static ProblemHttpResult Gone(AuditRecordExpiredException exception)
    {
        var expired = exception.Expired;
        var extensions = expired is null
            ? null
            : new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["recordId"] = expired.RecordId,
                ["sequence"] = expired.Sequence,
                ["hash"] = expired.Hash,
                ["expiredAt"] = expired.ExpiredAt,
                ["retentionRecordId"] = expired.RetentionRecordId,
                ["retentionClass"] = expired.Class,
                ["maxAge"] = expired.MaxAge,
            };
        return TypedResults.Problem(exception.Message, statusCode: StatusCodes.Status410Gone, title: "Expired under retention", extensions: extensions);
    }

    private static ProblemHttpResult BadPage() =>
        TypedResults.Problem($"limit must be between 1 and {AuditPageRequest.MaxLimit}, and cursor must be the nextCursor of a previous page.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
}

/// <summary>The body of <c>POST /v1/answers</c>.</summary>
/// <param name="ReceiptIds">The receipts the answer used (1-100); the caller must own each, unless it is a compliance officer.</param>
/// <param name="Answer">The answer text; only its SHA-256 is stored.</param>
/// <param name="AnswerSha256">The SHA-256 of the answer (UTF-8, hex), instead of or as well as the text.</param>
/// <param name="Model">The model that produced the answer.</param>
/// <param name="CitedChunkIds">The chunks the answer cites; each must have been returned by one of the receipts.</param>
public sealed record AnswerBody(ImmutableArray<string>? ReceiptIds, string? Answer, string? AnswerSha256, string? Model, ImmutableArray<string>? CitedChunkIds) : ILimitedBody
{
    /// <inheritdoc />
    public FieldProblem? CheckLimits() =>
        InputLimits.CheckList("receiptIds", ReceiptIds is { IsDefault: false } receipts ? receipts : null)
        ?? InputLimits.Check("answer", Answer)
        ?? InputLimits.Check("answerSha256", AnswerSha256)
        ?? InputLimits.Check("model", Model)
        ?? InputLimits.CheckList("citedChunkIds", CitedChunkIds is { IsDefault: false } cited ? cited : null);
}

/// <summary>The answer of <c>POST /v1/answers</c>.</summary>
/// <param name="AnswerId">The answer's id, for <c>GET /v1/audit/answers/{answerId}</c>.</param>
/// <param name="AnswerSha256">The recorded hash.</param>
public sealed record AnswerCreated(string AnswerId, string AnswerSha256);

/// <summary>One chunk behind an answer or in an access report.</summary>
/// <param name="Id">The chunk id.</param>
/// <param name="DocumentId">The document id.</param>
/// <param name="Version">The document version.</param>
/// <param name="ContentSha256">The SHA-256 of the chunk text as stored.</param>
/// <param name="Label">The sensitivity label.</param>
/// <param name="ReceiptId">The retrieval that returned it.</param>
/// <param name="Cited">Whether the answer cites it (answers only; null when the answer declared no citations).</param>
/// <param name="Subjects">The data subjects it concerns.</param>
public sealed record TracedChunk(string Id, string DocumentId, int Version, string ContentSha256, string Label, string ReceiptId, bool? Cited, ImmutableArray<string> Subjects);

/// <summary>The receipts and exact chunks behind an answer.</summary>
/// <param name="AnswerId">The answer id.</param>
/// <param name="Time">When the answer was registered.</param>
/// <param name="Principal">Who registered it.</param>
/// <param name="Agent">The agent that registered it for <paramref name="Principal"/>, if any.</param>
/// <param name="Model">The declared model.</param>
/// <param name="AnswerSha256">The answer's SHA-256.</param>
/// <param name="Chunks">Every chunk returned by the receipts, in receipt order.</param>
/// <param name="Receipts">The retrieval records, as stored.</param>
public sealed record AnswerTraceResponse(
    string AnswerId,
    DateTimeOffset Time,
    string Principal,
    string? Agent,
    string? Model,
    string AnswerSha256,
    ImmutableArray<TracedChunk> Chunks,
    ImmutableArray<ReceiptResponse> Receipts)
{
    /// <summary>Maps an engine trace to the wire shape.</summary>
    public static AnswerTraceResponse From(AnswerTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var answer = trace.Answer.Record;
        var binding = answer.Answer!;
        var cited = binding.CitedChunkIds.IsDefaultOrEmpty ? null : binding.CitedChunkIds.ToHashSet(StringComparer.Ordinal);
        return new AnswerTraceResponse(
            answer.RecordId,
            answer.Time,
            answer.SubjectId,
            answer.ActorId,
            binding.Model,
            binding.AnswerSha256,
            [.. trace.Receipts.SelectMany(r => r.Record.Chunks.Select(c => new TracedChunk(c.ChunkId, c.DocumentId, c.Version, c.ContentSha256, c.Label, r.Record.RecordId, cited?.Contains(c.ChunkId), c.Subjects)))],
            [.. trace.Receipts.Select(static r => new ReceiptResponse(r.Sequence, r.Hash, r.Record, []))])
        {
            ExpiredReceipts = [.. trace.ExpiredReceipts],
        };
    }

    /// <summary>Gets the receipts behind the answer that expired under retention (their chunks are no longer known).</summary>
    public ImmutableArray<ExpiredAuditRecord> ExpiredReceipts { get; init; } = [];
}

/// <summary>One record as stored.</summary>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Hash">The chain hash after it.</param>
/// <param name="Record">The record (see <c>schemas/audit-record.schema.json</c>).</param>
/// <param name="Answers">The answers bound to it.</param>
public sealed record ReceiptResponse(long Sequence, string Hash, AuditRecord Record, ImmutableArray<string> Answers);

/// <summary>One retrieval in an access report.</summary>
/// <param name="ReceiptId">The receipt.</param>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Time">When the data was released.</param>
/// <param name="Principal">Who received it.</param>
/// <param name="Agent">The agent acting for <paramref name="Principal"/>, if any.</param>
/// <param name="Purpose">The declared purpose.</param>
/// <param name="Destination">The recipient model or vendor.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="PolicyVersion">The policy version that allowed it.</param>
/// <param name="Chunks">The chunks concerned.</param>
public sealed record Access(
    string ReceiptId,
    long Sequence,
    DateTimeOffset Time,
    string Principal,
    string? Agent,
    string? Purpose,
    string? Destination,
    string? ConversationId,
    string PolicyVersion,
    ImmutableArray<TracedChunk> Chunks)
{
    /// <summary>Maps a retrieval entry to an access, keeping only the chunks that match.</summary>
    public static Access From(AuditEntry entry, Func<AuditedChunk, bool> concerns)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(concerns);
        var record = entry.Record;
        return new Access(
            record.RecordId,
            entry.Sequence,
            record.Time,
            record.SubjectId,
            record.ActorId,
            record.Purpose,
            record.Destination,
            record.ConversationId,
            record.PolicyVersion,
            [.. record.Chunks.Where(concerns).Select(c => new TracedChunk(c.ChunkId, c.DocumentId, c.Version, c.ContentSha256, c.Label, record.RecordId, null, c.Subjects))]);
    }
}

/// <summary>Every retrieval that returned a chunk of a document.</summary>
/// <param name="DocumentId">The document.</param>
/// <param name="Accesses">One page of retrievals, oldest first.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record DocumentAccessesResponse(string DocumentId, ImmutableArray<Access> Accesses, string? NextCursor);

/// <summary>The data-subject access report: every retrieval that returned data about the subject.</summary>
/// <param name="SubjectId">The data subject.</param>
/// <param name="Accesses">One page of retrievals, oldest first: dates, recipients, purposes and destinations.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record SubjectAccessesResponse(string SubjectId, ImmutableArray<Access> Accesses, string? NextCursor);

/// <summary>The outcome of <c>GET /v1/audit/verify</c>.</summary>
/// <param name="Ok">Whether every entry, index row and checkpoint checks out.</param>
/// <param name="Records">How many entries were checked.</param>
/// <param name="Head">The chain hash of the last good entry.</param>
/// <param name="MerkleRoot">The Merkle root over all entries (when the log is intact).</param>
/// <param name="Checkpoints">How many signed checkpoints were checked.</param>
/// <param name="Unanchored">Entries after the last checkpoint (protected by the chain only until the next one).</param>
/// <param name="FirstBadSequence">The first bad entry, if any.</param>
/// <param name="FirstBadCheckpoint">The tree size of the first bad checkpoint, if any.</param>
/// <param name="Problem">What is wrong, if anything.</param>
public sealed record VerifyResponse(bool Ok, long Records, string Head, string? MerkleRoot, long Checkpoints, long Unanchored, long? FirstBadSequence, long? FirstBadCheckpoint, string? Problem)
{
    /// <summary>Maps a verification to the wire shape.</summary>
    public static VerifyResponse From(AuditVerification verification)
    {
        ArgumentNullException.ThrowIfNull(verification);
        return new VerifyResponse(verification.Ok, verification.Records, verification.Head, verification.MerkleRoot, verification.Checkpoints, verification.Unanchored, verification.FirstBadSequence, verification.FirstBadCheckpoint, verification.Problem)
        {
            Expired = verification.Expired,
        };
    }

    /// <summary>Gets how many entries expired under retention (tombstones whose hashes still verify).</summary>
    public long Expired { get; init; }
}

/// <summary>Source-generated JSON for the audit routes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(AnswerBody))]
[JsonSerializable(typeof(AnswerCreated))]
[JsonSerializable(typeof(AnswerTraceResponse))]
[JsonSerializable(typeof(ReceiptResponse))]
[JsonSerializable(typeof(DocumentAccessesResponse))]
[JsonSerializable(typeof(SubjectAccessesResponse))]
[JsonSerializable(typeof(VerifyResponse))]
internal sealed partial class AuditApiJsonContext : JsonSerializerContext;
