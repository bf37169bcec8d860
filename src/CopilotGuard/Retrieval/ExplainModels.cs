using System.Collections.Immutable;
using CopilotGuard.Identity;
using CopilotGuard.Policy;

namespace CopilotGuard.Retrieval;

/// <summary>A request to explain why a chunk is or is not visible.</summary>
public sealed record ExplainRequest
{
    /// <summary>Gets who asks. Only principals with an explain role may ask about someone else.</summary>
    public required CallerIdentity Requester { get; init; }

    /// <summary>Gets whose view to explain; the default is the requester's own.</summary>
    public CallerIdentity? Subject { get; init; }

    /// <summary>Gets the chunk to explain.</summary>
    public required string ChunkId { get; init; }

    /// <summary>Gets the purpose to evaluate with.</summary>
    public string? Purpose { get; init; }

    /// <summary>Gets the destination to evaluate with (undeclared or unregistered means the most restrictive registered one).</summary>
    public string? Destination { get; init; }
}

/// <summary>Why a chunk is or is not visible to a caller.</summary>
/// <param name="ChunkId">The chunk asked about.</param>
/// <param name="Visible">Whether the caller may see it.</param>
/// <param name="Reason">The deciding rules, in words.</param>
/// <param name="PolicyVersion">The policy bundle version that decided.</param>
/// <param name="Details">Rule-by-rule outcomes; withheld when a caller asks about a chunk it cannot see.</param>
/// <param name="Filters">The caller's residual filter in the policy language and in each store's dialect.</param>
/// <param name="Chunk">The chunk's attributes, for explain-role callers only.</param>
public sealed record ChunkExplanation(
    string ChunkId,
    bool Visible,
    string Reason,
    string PolicyVersion,
    PolicyExplanation? Details,
    ImmutableDictionary<string, string> Filters,
    Chunk? Chunk);

/// <summary>A request to restore pseudonymized values in a text for the caller's own conversation.</summary>
/// <param name="Caller">The authenticated caller.</param>
/// <param name="ConversationId">The conversation whose pseudonyms to restore.</param>
/// <param name="Text">The text, e.g. a model's answer with &lt;PERSON_1&gt; placeholders.</param>
public sealed record DeanonymizeRequest(CallerIdentity Caller, string ConversationId, string Text);

/// <summary>The restored text and how many pseudonyms were replaced.</summary>
public sealed record DeanonymizeResult(string Text, int Restored);

/// <summary>The outcome of a label change.</summary>
/// <param name="DocumentId">The document.</param>
/// <param name="Previous">The labels its chunks had.</param>
/// <param name="Label">The new label.</param>
/// <param name="Chunks">How many chunks were relabelled.</param>
public sealed record LabelChange(string DocumentId, IReadOnlyList<string> Previous, string Label, int Chunks);
