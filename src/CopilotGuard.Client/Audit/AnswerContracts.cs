using System.Text.Json;

namespace CopilotGuard.Client;

/// <summary>Describes an answer to bind to the receipts that grounded it: the body of <c>POST /v1/answers</c>.</summary>
/// <param name="ReceiptIds">The receipts the answer used (1-100); the caller must own each.</param>
public sealed record RegisterAnswerRequest(IReadOnlyList<string> ReceiptIds)
{
    /// <summary>Gets the answer text; the server stores only its SHA-256. The default is none (send <see cref="AnswerSha256"/> instead).</summary>
    public string? Answer { get; init; }

    /// <summary>Gets the SHA-256 of the answer (UTF-8, lowercase hex). The default is none.</summary>
    public string? AnswerSha256 { get; init; }

    /// <summary>Gets the model that produced the answer. The default is none.</summary>
    public string? Model { get; init; }

    /// <summary>Gets the chunks the answer cites; each must have been returned by one of the receipts. The default is none.</summary>
    public IReadOnlyList<string>? CitedChunkIds { get; init; }
}

/// <summary>Holds the outcome of an answer registration.</summary>
/// <param name="AnswerId">The answer id, for <see cref="CopilotGuardClient.GetAnswerTraceAsync"/>.</param>
/// <param name="AnswerSha256">The recorded hash.</param>
public sealed record RegisterAnswerResponse(string AnswerId, string? AnswerSha256);

/// <summary>Holds the receipts and the exact chunks behind an answer.</summary>
/// <param name="AnswerId">The answer id.</param>
/// <param name="Time">When the answer was registered.</param>
/// <param name="Principal">Who registered it.</param>
/// <param name="Agent">The agent that registered it for <paramref name="Principal"/>, if any.</param>
/// <param name="Model">The declared model.</param>
/// <param name="AnswerSha256">The answer's SHA-256.</param>
/// <param name="Chunks">Every chunk returned by the receipts, in receipt order.</param>
/// <param name="Receipts">The retrieval records, as stored.</param>
public sealed record AnswerTrace(
    string AnswerId,
    DateTimeOffset Time,
    string Principal,
    string? Agent,
    string? Model,
    string AnswerSha256,
    IReadOnlyList<TracedChunk> Chunks,
    IReadOnlyList<AuditReceipt> Receipts);

/// <summary>Holds one chunk behind an answer.</summary>
/// <param name="Id">The chunk id.</param>
/// <param name="DocumentId">The document id.</param>
/// <param name="Version">The document version.</param>
/// <param name="ContentSha256">The SHA-256 of the chunk text as stored.</param>
/// <param name="Label">The sensitivity label.</param>
/// <param name="ReceiptId">The retrieval that returned it.</param>
/// <param name="Cited">Whether the answer cites it; null when the answer declared no citations.</param>
/// <param name="Subjects">The data subjects it concerns.</param>
public sealed record TracedChunk(string Id, string DocumentId, int Version, string ContentSha256, string Label, string ReceiptId, bool? Cited, IReadOnlyList<string>? Subjects);

/// <summary>Holds one audit record as stored.</summary>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Hash">The chain hash after it.</param>
/// <param name="Record">The record (see <c>schemas/audit-record.schema.json</c>).</param>
/// <param name="Answers">The answers bound to it.</param>
public sealed record AuditReceipt(long Sequence, string Hash, JsonElement Record, IReadOnlyList<string>? Answers);
