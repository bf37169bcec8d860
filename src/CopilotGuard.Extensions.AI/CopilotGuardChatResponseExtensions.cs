using Microsoft.Extensions.AI;

namespace CopilotGuard.Extensions.AI;

/// <summary>Reads what <see cref="CopilotGuardChatClient"/> attached to a <see cref="ChatResponse"/>.</summary>
/// <remarks>A response from <c>GetResponseAsync</c> carries the values in <see cref="ChatResponse.AdditionalProperties"/>. A streamed
/// response carries them in its last update, which <c>ToChatResponse</c> merges into the last message's
/// <see cref="ChatMessage.AdditionalProperties"/>; these methods read both.</remarks>
public static class CopilotGuardChatResponseExtensions
{
    /// <summary>Returns the audit receipt of the data that grounded the response, or null when none was retrieved.</summary>
    /// <param name="response">The response.</param>
    /// <returns>The receipt id.</returns>
    public static string? GetCopilotGuardReceiptId(this ChatResponse response) => Get<string>(response, CopilotGuardPropertyNames.ReceiptId);

    /// <summary>Returns the id under which the answer was registered, or null when it was not.</summary>
    /// <param name="response">The response.</param>
    /// <returns>The answer id.</returns>
    public static string? GetCopilotGuardAnswerId(this ChatResponse response) => Get<string>(response, CopilotGuardPropertyNames.AnswerId);

    /// <summary>Returns the sources the answer cites, in order of first citation (empty when none).</summary>
    /// <param name="response">The response.</param>
    /// <returns>The cited sources.</returns>
    public static IReadOnlyList<CopilotGuardCitation> GetCopilotGuardCitations(this ChatResponse response) =>
        Get<IReadOnlyList<CopilotGuardCitation>>(response, CopilotGuardPropertyNames.Citations) ?? [];

    /// <summary>Returns every numbered source the model was given (empty when none).</summary>
    /// <param name="response">The response.</param>
    /// <returns>The grounding sources.</returns>
    public static IReadOnlyList<CopilotGuardCitation> GetCopilotGuardSources(this ChatResponse response) =>
        Get<IReadOnlyList<CopilotGuardCitation>>(response, CopilotGuardPropertyNames.Sources) ?? [];

    /// <summary>Returns what happened to pseudonyms in the answer, or null when the response was not grounded.</summary>
    /// <param name="response">The response.</param>
    /// <returns>The outcome.</returns>
    public static CopilotGuardDeanonymization? GetCopilotGuardDeanonymization(this ChatResponse response) =>
        Find(response, CopilotGuardPropertyNames.Deanonymization) is CopilotGuardDeanonymization outcome ? outcome : null;

    private static T? Get<T>(ChatResponse response, string key)
        where T : class => Find(response, key) as T;

    private static object? Find(ChatResponse response, string key)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.AdditionalProperties?.TryGetValue(key, out var value) == true)
        {
            return value;
        }

        for (var i = response.Messages.Count - 1; i >= 0; i--)
        {
            if (response.Messages[i].AdditionalProperties?.TryGetValue(key, out value) == true)
            {
                return value;
            }
        }

        return null;
    }
}
