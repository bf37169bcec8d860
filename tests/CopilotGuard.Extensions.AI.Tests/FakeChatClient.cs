using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Extensions.AI.Tests;

/// <summary>A hand-written inner chat client: records what it receives and answers through callback properties.</summary>
internal sealed class FakeChatClient : IChatClient
{
    public const string ModelId = "fake-model-1";

    /// <summary>Gets or sets the answer to a non-streaming call, from the messages received.</summary>
    public Func<IReadOnlyList<ChatMessage>, string> Answer { get; set; } = static _ => "I found it [1].";

    /// <summary>Gets or sets the pieces a streaming call yields, from the messages received.</summary>
    public Func<IReadOnlyList<ChatMessage>, IEnumerable<string>> StreamPieces { get; set; } = static _ => ["I found ", "it [1]."];

    public List<(IReadOnlyList<ChatMessage> Messages, ChatOptions? Options)> Calls { get; } = [];

    /// <summary>Gets the grounding system message of the last call (the one just before the last user message).</summary>
    public string Grounding
    {
        get
        {
            var messages = Calls[^1].Messages;
            var user = messages.Select(static (m, i) => (m, i)).Last(static p => p.m.Role == ChatRole.User).i;
            Assert.True(user > 0, "No message precedes the user message.");
            Assert.Equal(ChatRole.System, messages[user - 1].Role);
            return messages[user - 1].Text;
        }
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        Calls.Add((list, options));
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Answer(list))) { ModelId = ModelId });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        Calls.Add((list, options));
        foreach (var piece in StreamPieces(list))
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ModelId = ModelId, MessageId = "m1", ResponseId = "r1" };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("fake", null, ModelId)
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
    }
}
