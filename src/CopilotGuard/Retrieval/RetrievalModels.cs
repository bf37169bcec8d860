using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Identity;

namespace CopilotGuard.Retrieval;

/// <summary>One retrieval request, with the authenticated caller.</summary>
public sealed record RetrievalRequest
{
    /// <summary>Gets the authenticated identities (user, and the agent acting for it, if any).</summary>
    public required CallerIdentity Caller { get; init; }

    /// <summary>Gets the query text.</summary>
    public required string Query { get; init; }

    /// <summary>Gets how many chunks to return. The default is 5.</summary>
    public int Top { get; init; } = 5;

    /// <summary>Gets how the store ranks chunks. The default is <see cref="RetrievalMode.Vector"/>.</summary>
    /// <remarks>Every mode gets the same pushed-down filter and the same post-filter re-check.</remarks>
    public RetrievalMode Mode { get; init; } = RetrievalMode.Vector;

    /// <summary>Gets the declared purpose (e.g. <c>support</c>, <c>hr-case</c>).</summary>
    public string? Purpose { get; init; }

    /// <summary>Gets the destination of the data: <c>internal</c>, or an external model or vendor.
    /// An undeclared or unregistered destination is treated as the most restrictive registered one (<see cref="CopilotGuard.Identity.DestinationRegistry"/>).</summary>
    public string? Destination { get; init; }

    /// <summary>Gets the conversation the request belongs to.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets the caller's network address, for the audit record.</summary>
    public string? ClientAddress { get; init; }
}

/// <summary>The outcome of a retrieval: the receipt id and the chunks the caller may see.</summary>
/// <param name="ReceiptId">The audit record id that compliance can trace.</param>
/// <param name="Chunks">The chunks, best first.</param>
/// <param name="Record">The audit record written for this retrieval.</param>
public sealed record RetrievalResult(string ReceiptId, ImmutableArray<ScoredChunk> Chunks, AuditRecord Record);
