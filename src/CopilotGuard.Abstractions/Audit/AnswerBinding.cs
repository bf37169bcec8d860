using System.Collections.Immutable;

namespace CopilotGuard.Audit;

/// <summary>Binds a generated answer to the retrievals that grounded it; carried by records of kind <c>answer</c>.</summary>
/// <remarks>Holds the answer's SHA-256, never its text.</remarks>
public sealed record AnswerBinding
{
    /// <summary>Gets the SHA-256 of the answer text (UTF-8), lowercase hex.</summary>
    public required string AnswerSha256 { get; init; }

    /// <summary>Gets the model that produced the answer, if declared.</summary>
    public string? Model { get; init; }

    /// <summary>Gets the receipts (retrieval record ids) the answer used.</summary>
    public required ImmutableArray<string> ReceiptIds { get; init; }

    /// <summary>Gets the chunks the answer cites, if declared; each was returned by one of <see cref="ReceiptIds"/>.</summary>
    public ImmutableArray<string> CitedChunkIds { get; init; } = [];
}

/// <summary>The record kinds CopilotGuard writes.</summary>
public static class AuditRecordKinds
{
    /// <summary>One retrieval; its id is the receipt.</summary>
    public const string Retrieval = "retrieval";

    /// <summary>An answer bound to receipts.</summary>
    public const string Answer = "answer";

    /// <summary>A compliance query over the audit log itself.</summary>
    public const string AuditQuery = "audit-query";

    /// <summary>A policy explanation.</summary>
    public const string PolicyExplain = "policy-explain";

    /// <summary>A retention run that expired entries; it lists them and never expires itself.</summary>
    public const string Retention = "retention";

    /// <summary>The tombstone left in place of an entry that expired under retention (only its hashes are kept).</summary>
    public const string Expired = "expired";

    /// <summary>A live reload of the policy files: the record carries the new policy version and hash, its target the old ones.</summary>
    public const string PolicyReload = "policy-reload";
}
