namespace CopilotGuard.Extensions.AI;

/// <summary>Names the <c>AdditionalProperties</c> keys that <see cref="CopilotGuardChatClient"/> reads from <c>ChatOptions</c> and writes to <c>ChatResponse</c>.</summary>
/// <remarks>The request keys are removed from the options before they reach the inner client, so they never travel to a model provider.</remarks>
public static class CopilotGuardPropertyNames
{
    /// <summary>The request key overriding <see cref="CopilotGuardChatClientOptions.Purpose"/> (a string).</summary>
    public const string Purpose = "copilotguard.purpose";

    /// <summary>The request key overriding <see cref="CopilotGuardChatClientOptions.Destination"/> (a string).</summary>
    public const string Destination = "copilotguard.destination";

    /// <summary>The request key overriding <see cref="CopilotGuardChatClientOptions.Top"/> (an integer).</summary>
    public const string Top = "copilotguard.top";

    /// <summary>The request key naming the conversation (a string), and the response key reporting the one used.</summary>
    /// <remarks>Pseudonyms are consistent within a conversation. Without this key the middleware uses <c>ChatOptions.ConversationId</c>,
    /// or a new id for the single call.</remarks>
    public const string ConversationId = "copilotguard.conversationId";

    /// <summary>The response key holding the audit receipt of the retrieval (a string).</summary>
    public const string ReceiptId = "copilotguard.receiptId";

    /// <summary>The response key holding the registered answer's id (a string), absent when registration is off.</summary>
    public const string AnswerId = "copilotguard.answerId";

    /// <summary>The response key holding every grounding source (an <see cref="IReadOnlyList{T}"/> of <see cref="CopilotGuardCitation"/>).</summary>
    public const string Sources = "copilotguard.sources";

    /// <summary>The response key holding the sources the answer cites (an <see cref="IReadOnlyList{T}"/> of <see cref="CopilotGuardCitation"/>).</summary>
    public const string Citations = "copilotguard.citations";

    /// <summary>The response key holding what happened to pseudonyms in the answer (a <see cref="CopilotGuardDeanonymization"/>).</summary>
    public const string Deanonymization = "copilotguard.deanonymization";

    /// <summary>The response key holding how many pseudonyms were restored (an integer).</summary>
    public const string RestoredCount = "copilotguard.restoredCount";

    internal static bool IsRequestKey(string key) =>
        key is Purpose or Destination or Top or ConversationId;
}

/// <summary>Tells what happened to the pseudonyms (such as &lt;PERSON_1&gt;) in an answer.</summary>
public enum CopilotGuardDeanonymization
{
    /// <summary>Restoration is turned off in the options; pseudonyms stay.</summary>
    Disabled,

    /// <summary>The answer holds no pseudonym.</summary>
    NoPseudonyms,

    /// <summary>The server restored at least one pseudonym for the caller.</summary>
    Restored,

    /// <summary>The server allowed restoration but knew none of the answer's pseudonyms; they stay.</summary>
    NoneRestored,

    /// <summary>The server refused restoration to the caller (403); pseudonyms stay.</summary>
    Denied,

    /// <summary>The server does not offer restoration (404 or 405); pseudonyms stay.</summary>
    Unavailable,
}

/// <summary>Describes one numbered grounding source.</summary>
/// <param name="Number">The number the model cites it by, as in [1].</param>
/// <param name="ChunkId">The chunk id.</param>
/// <param name="DocumentId">The document id.</param>
/// <param name="Source">The source the document belongs to.</param>
/// <param name="Label">The sensitivity label.</param>
/// <param name="Title">The document title, if any.</param>
public sealed record CopilotGuardCitation(int Number, string ChunkId, string DocumentId, string Source, string Label, string? Title);
