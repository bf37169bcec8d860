using System.Collections.Immutable;

namespace CopilotGuard.Audit;

/// <summary>The record of one retrieval: who asked, why, under which policy, and exactly which data left.</summary>
/// <remarks>Carries ids, hashes, labels and counts; never chunk text and never the raw query.</remarks>
public sealed record AuditRecord
{
    /// <summary>Gets the record (receipt) id.</summary>
    public required string RecordId { get; init; }

    /// <summary>Gets the record kind, e.g. <c>retrieval</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>Gets when the retrieval was decided.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>Gets the tenant the record belongs to.</summary>
    public string? Tenant { get; init; }

    /// <summary>Gets the ids of the policy rules that took part in the decision (allow rules that could grant, deny rules that could deny).</summary>
    public ImmutableArray<string> DecidingRules { get; init; } = [];

    /// <summary>Gets the subject principal id (the user the data is for).</summary>
    public required string SubjectId { get; init; }

    /// <summary>Gets the agent acting for the subject, if any.</summary>
    public string? ActorId { get; init; }

    /// <summary>Gets the caller's network address, if known.</summary>
    public string? ClientAddress { get; init; }

    /// <summary>Gets the declared purpose.</summary>
    public string? Purpose { get; init; }

    /// <summary>Gets the declared destination (which model or vendor receives the data).</summary>
    public string? Destination { get; init; }

    /// <summary>Gets the conversation id, if the caller gave one.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the keyed hash (HMAC-SHA256) of the query text.</summary>
    public string? QueryHash { get; init; }

    /// <summary>Gets the policy bundle version that decided.</summary>
    public required string PolicyVersion { get; init; }

    /// <summary>Gets the SHA-256 of the policy bundle that decided.</summary>
    public required string PolicyHash { get; init; }

    /// <summary>Gets the decision: <c>filtered</c> (a residual was pushed), <c>all</c> or <c>none</c>.</summary>
    public required string Decision { get; init; }

    /// <summary>Gets the store the filter was pushed to.</summary>
    public string? Store { get; init; }

    /// <summary>Gets the filter as pushed to the store, in its dialect.</summary>
    public string? PushedFilter { get; init; }

    /// <summary>Gets the retrieval mode (<c>keyword</c> or <c>hybrid</c>); <see langword="null"/> for vector retrievals,
    /// so records written before modes existed read the same and hash the same.</summary>
    public string? Mode { get; init; }

    /// <summary>Gets what an administrative or explanatory record concerns, e.g. <c>chunk:kb-vpn-setup#0</c>.</summary>
    public string? Target { get; init; }

    /// <summary>Gets the chunks returned to the caller.</summary>
    public ImmutableArray<AuditedChunk> Chunks { get; init; } = [];

    /// <summary>Gets the chunks the store returned that the exact policy check dropped.</summary>
    public ImmutableArray<string> PostFilterDrops { get; init; } = [];

    /// <summary>Gets why each chunk in <see cref="PostFilterDrops"/> was dropped, in the same order.</summary>
    public ImmutableArray<DroppedChunk> PostFilterDropReasons { get; init; } = [];

    /// <summary>Gets whether the pushed filter was exact, so that every post-filter drop is a pushdown miss (a security event).</summary>
    public bool PushdownExact { get; init; }

    /// <summary>Gets the time spent in each stage, in milliseconds.</summary>
    public StageTimings? Timings { get; init; }

    /// <summary>Gets the answer an <c>answer</c> record binds to its receipts.</summary>
    public AnswerBinding? Answer { get; init; }

    /// <summary>Gets what a <c>retention</c> record expired: the retention file's hash, the cutoffs per class and the expired entries.</summary>
    public AuditRetentionSummary? Retention { get; init; }

    /// <summary>Gets the record format version (<c>schemas/audit-record.schema.json</c>). The default is 1; records written before it existed are version 1.</summary>
    public int SchemaVersion { get; init; } = 1;
}

/// <summary>Time spent in each stage of a retrieval, in milliseconds.</summary>
/// <param name="Entitlements">Resolving the caller's principals and gates.</param>
/// <param name="Policy">Deciding and compiling the filter.</param>
/// <param name="Embedding">Embedding the query.</param>
/// <param name="Store">Store round trips.</param>
/// <param name="PostFilter">Re-checking, obligations and anonymization.</param>
public sealed record StageTimings(double Entitlements, double Policy, double Embedding, double Store, double PostFilter);

/// <summary>One chunk that left CopilotGuard, as recorded.</summary>
public sealed record AuditedChunk
{
    /// <summary>Gets the chunk id.</summary>
    public required string ChunkId { get; init; }

    /// <summary>Gets the document id.</summary>
    public required string DocumentId { get; init; }

    /// <summary>Gets the source the document comes from.</summary>
    public string? Source { get; init; }

    /// <summary>Gets the document version.</summary>
    public required int Version { get; init; }

    /// <summary>Gets the SHA-256 of the chunk text as stored.</summary>
    public required string ContentSha256 { get; init; }

    /// <summary>Gets the label name.</summary>
    public required string Label { get; init; }

    /// <summary>Gets the similarity score.</summary>
    public required double Score { get; init; }

    /// <summary>Gets the data subjects the chunk concerns.</summary>
    public ImmutableArray<string> Subjects { get; init; } = [];

    /// <summary>Gets the fields not returned as stored, with the operator applied (drop, mask, generalize, hash, anonymized); names only, never values.</summary>
    public ImmutableSortedDictionary<string, string>? FieldsWithheld { get; init; }

    /// <summary>Gets how many entities of each type were anonymized in the released text and fields.</summary>
    public ImmutableSortedDictionary<string, int>? AnonymizedEntities { get; init; }
}

/// <summary>A chunk the post-filter dropped, and why.</summary>
/// <param name="ChunkId">The chunk.</param>
/// <param name="DocumentId">Its document.</param>
/// <param name="Reason">The parts of the exact policy filter it failed, in policy syntax (names and policy values only, never chunk content).</param>
public sealed record DroppedChunk(string ChunkId, string DocumentId, string Reason);
