using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using CopilotGuard.Hosting.Audit;

namespace CopilotGuard.Hosting.ComplianceConsole;

/// <summary>One sensitivity label as the console shows it.</summary>
/// <param name="Name">The label name.</param>
/// <param name="DisplayName">The display name.</param>
/// <param name="Color">The CSS color (a sublabel takes its parent's when it has none).</param>
/// <param name="Rank">The rank, least sensitive first.</param>
/// <param name="Parent">The parent label of a sublabel.</param>
/// <param name="Documents">How many documents currently carry it.</param>
public sealed record ConsoleLabel(string Name, string DisplayName, string? Color, int Rank, string? Parent, long Documents);

/// <summary>The answer of <c>GET /v1/console/labels</c>: the taxonomy and how many documents carry each label.</summary>
/// <param name="Labels">The labels, least sensitive first.</param>
/// <param name="Sources">The sources in the store.</param>
public sealed record ConsoleLabelsResponse(ImmutableArray<ConsoleLabel> Labels, ImmutableArray<string> Sources);

/// <summary>A document as the chunk store holds it now.</summary>
/// <param name="DocumentId">The document id.</param>
/// <param name="Source">The source.</param>
/// <param name="Title">The title.</param>
/// <param name="Labels">The distinct labels of its chunks.</param>
/// <param name="Version">The highest version of its chunks.</param>
/// <param name="Chunks">How many chunks it has.</param>
public sealed record ConsoleDocument(string DocumentId, string Source, string? Title, ImmutableArray<string> Labels, int Version, int Chunks);

/// <summary>One page of <c>GET /v1/console/documents</c>.</summary>
/// <param name="Documents">The documents, by id.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record ConsoleDocumentsResponse(ImmutableArray<ConsoleDocument> Documents, string? NextCursor);

/// <summary>One label change of a document, from its <c>label-change</c> audit record.</summary>
/// <param name="ReceiptId">The record id.</param>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Time">When the label changed.</param>
/// <param name="By">Who changed it.</param>
/// <param name="Previous">The labels its chunks had before.</param>
/// <param name="Label">The new label.</param>
public sealed record LabelChange(string ReceiptId, long Sequence, DateTimeOffset Time, string By, ImmutableArray<string> Previous, string Label);

/// <summary>The answer of <c>GET /v1/console/documents/{documentId}/label-history</c>.</summary>
/// <param name="DocumentId">The document.</param>
/// <param name="Current">The document as stored now, if it still exists.</param>
/// <param name="Changes">One page of changes, oldest first.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record LabelHistoryResponse(string DocumentId, ConsoleDocument? Current, ImmutableArray<LabelChange> Changes, string? NextCursor);

/// <summary>One page of <c>GET /v1/console/accesses</c>: retrievals of a document or about a data subject, filtered.</summary>
/// <param name="Accesses">The retrievals, oldest first.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record ConsoleAccessesResponse(ImmutableArray<Access> Accesses, string? NextCursor);

/// <summary>The counts of one time bucket of <c>GET /v1/console/activity</c>.</summary>
/// <param name="Start">The bucket's start (UTC, ISO 8601).</param>
/// <param name="Retrievals">Retrieval records.</param>
/// <param name="Denials">Retrievals the policy allowed nothing for, refused audit queries and refused de-anonymizations.</param>
/// <param name="PostFilterDrops">Chunks the post-filter dropped.</param>
/// <param name="PushdownMisses">Post-filter drops behind an exact pushed filter (security events).</param>
/// <param name="Anomalies">Anomaly alerts.</param>
/// <param name="Suspensions">Principals suspended.</param>
/// <param name="Resumptions">Principals resumed.</param>
/// <param name="LabelChanges">Document label changes.</param>
/// <param name="AuditQueries">Compliance queries.</param>
/// <param name="Sources">Chunks released, per source.</param>
/// <param name="Labels">Chunks released, per label.</param>
public sealed record ActivityBucket(
    DateTimeOffset Start,
    long Retrievals,
    long Denials,
    long PostFilterDrops,
    long PushdownMisses,
    long Anomalies,
    long Suspensions,
    long Resumptions,
    long LabelChanges,
    long AuditQueries,
    ImmutableSortedDictionary<string, long> Sources,
    ImmutableSortedDictionary<string, long> Labels);

/// <summary>The answer of <c>GET /v1/console/activity</c>.</summary>
/// <param name="From">The start of the range (inclusive).</param>
/// <param name="To">The end of the range (exclusive).</param>
/// <param name="Bucket">The bucket size: <c>minute</c>, <c>hour</c> or <c>day</c>.</param>
/// <param name="Buckets">Every bucket of the range, empty ones included.</param>
/// <param name="Kinds">How many records of each kind the range holds.</param>
public sealed record ActivityResponse(DateTimeOffset From, DateTimeOffset To, string Bucket, ImmutableArray<ActivityBucket> Buckets, ImmutableSortedDictionary<string, long> Kinds);

/// <summary>One audit record in an event list.</summary>
/// <param name="ReceiptId">The record id.</param>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Time">When it was written.</param>
/// <param name="Kind">The record kind.</param>
/// <param name="Principal">The subject principal.</param>
/// <param name="Agent">The agent, if any.</param>
/// <param name="Decision">The decision.</param>
/// <param name="Target">What it concerns.</param>
/// <param name="Purpose">The declared purpose.</param>
public sealed record ConsoleEvent(string ReceiptId, long Sequence, DateTimeOffset Time, string Kind, string Principal, string? Agent, string Decision, string? Target, string? Purpose);

/// <summary>One page of <c>GET /v1/console/events</c>, newest first.</summary>
/// <param name="Events">The records.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next (older) page; null on the last page.</param>
public sealed record ConsoleEventsResponse(ImmutableArray<ConsoleEvent> Events, string? NextCursor);

/// <summary>A signed checkpoint as the console shows it.</summary>
/// <param name="TreeSize">The entries it covers.</param>
/// <param name="Time">When it was made.</param>
/// <param name="ChainHead">The chain hash of its last entry.</param>
/// <param name="MerkleRoot">The Merkle root.</param>
/// <param name="KeyId">The signing key id.</param>
/// <param name="Signature">The signature (base64).</param>
public sealed record ConsoleCheckpoint(long TreeSize, DateTimeOffset Time, string ChainHead, string MerkleRoot, string KeyId, string Signature);

/// <summary>A verification run from the console.</summary>
/// <param name="Time">When it finished.</param>
/// <param name="By">Who ran it.</param>
/// <param name="Result">The outcome.</param>
public sealed record ConsoleVerification(DateTimeOffset Time, string By, VerifyResponse Result);

/// <summary>The answer of <c>GET /v1/console/integrity</c>.</summary>
/// <param name="Records">How many entries the log holds.</param>
/// <param name="Head">The chain hash of the last entry.</param>
/// <param name="Checkpoints">How many signed checkpoints the log holds.</param>
/// <param name="LatestCheckpoint">The latest signed checkpoint, if any.</param>
/// <param name="LastVerification">The last verification run from the console on this instance, if any.</param>
public sealed record IntegrityResponse(long Records, string Head, long Checkpoints, ConsoleCheckpoint? LatestCheckpoint, ConsoleVerification? LastVerification);

/// <summary>One chunk in a console trace: what left CopilotGuard, and what was withheld or anonymized.</summary>
/// <param name="Id">The chunk id.</param>
/// <param name="DocumentId">The document.</param>
/// <param name="Version">The document version.</param>
/// <param name="Label">The label when released.</param>
/// <param name="Score">The similarity score.</param>
/// <param name="ContentSha256">The SHA-256 of the stored text.</param>
/// <param name="Cited">Whether the answer cites it (answers with declared citations only).</param>
/// <param name="Subjects">The data subjects it concerns.</param>
/// <param name="FieldsWithheld">Fields not returned as stored, with the operator.</param>
/// <param name="AnonymizedEntities">Entities anonymized, per type.</param>
public sealed record TraceChunk(
    string Id,
    string DocumentId,
    int Version,
    string Label,
    double Score,
    string ContentSha256,
    bool? Cited,
    ImmutableArray<string> Subjects,
    ImmutableSortedDictionary<string, string>? FieldsWithheld,
    ImmutableSortedDictionary<string, int>? AnonymizedEntities);

/// <summary>One retrieval in a console trace.</summary>
/// <param name="ReceiptId">The receipt.</param>
/// <param name="Sequence">Its position in the log.</param>
/// <param name="Kind">The record kind (normally <c>retrieval</c>).</param>
/// <param name="Time">When it was decided.</param>
/// <param name="Principal">Who received the data.</param>
/// <param name="Agent">The agent acting for them, if any.</param>
/// <param name="Purpose">The declared purpose.</param>
/// <param name="Destination">The recipient model or vendor.</param>
/// <param name="PolicyVersion">The policy version that decided.</param>
/// <param name="Decision">The decision.</param>
/// <param name="DecidingRules">The rules that took part in the decision.</param>
/// <param name="PushedFilter">The filter pushed to the store.</param>
/// <param name="PushdownExact">Whether the pushed filter was exact (every drop is then a pushdown miss).</param>
/// <param name="PostFilterDrops">Chunks the post-filter dropped.</param>
/// <param name="Chunks">The chunks released.</param>
public sealed record TraceReceipt(
    string ReceiptId,
    long Sequence,
    string Kind,
    DateTimeOffset Time,
    string Principal,
    string? Agent,
    string? Purpose,
    string? Destination,
    string PolicyVersion,
    string Decision,
    ImmutableArray<string> DecidingRules,
    string? PushedFilter,
    bool PushdownExact,
    ImmutableArray<string> PostFilterDrops,
    ImmutableArray<TraceChunk> Chunks);

/// <summary>The answer a console trace starts from.</summary>
/// <param name="AnswerId">The answer id.</param>
/// <param name="Time">When it was registered.</param>
/// <param name="Principal">Who registered it.</param>
/// <param name="Agent">The agent, if any.</param>
/// <param name="Model">The declared model.</param>
/// <param name="AnswerSha256">The answer's SHA-256.</param>
public sealed record TraceAnswer(string AnswerId, DateTimeOffset Time, string Principal, string? Agent, string? Model, string AnswerSha256);

/// <summary>The answer of <c>GET /v1/console/trace/{id}</c>: an answer (or one receipt) down to documents and sources.</summary>
/// <param name="Answer">The answer, when the id is an answer's.</param>
/// <param name="Receipts">The receipts.</param>
/// <param name="Documents">The documents of the chunks, with their source and current labels.</param>
/// <param name="AnswersOfReceipt">For a receipt id, the answers bound to it.</param>
public sealed record ConsoleTraceResponse(TraceAnswer? Answer, ImmutableArray<TraceReceipt> Receipts, ImmutableArray<ConsoleDocument> Documents, ImmutableArray<string> AnswersOfReceipt);

/// <summary>Source-generated JSON for the console routes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ConsoleLabelsResponse))]
[JsonSerializable(typeof(ConsoleDocumentsResponse))]
[JsonSerializable(typeof(LabelHistoryResponse))]
[JsonSerializable(typeof(ConsoleAccessesResponse))]
[JsonSerializable(typeof(ActivityResponse))]
[JsonSerializable(typeof(ConsoleEventsResponse))]
[JsonSerializable(typeof(IntegrityResponse))]
[JsonSerializable(typeof(ConsoleVerification))]
[JsonSerializable(typeof(ConsoleTraceResponse))]
internal sealed partial class ConsoleJsonContext : JsonSerializerContext;
