using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Samples.ConsoleCopilot;

/// <summary>A stand-in for a language model: answers by quoting the source sentences that share the most words with the question,
/// each followed by its [n] citation.</summary>
/// <remarks>It is not a model and generates nothing: it only reads the grounding system message that CopilotGuard adds. It exists so
/// the sample runs without any model endpoint; swap it for any <see cref="IChatClient"/> (Azure OpenAI, Ollama, ...).</remarks>
internal sealed partial class ExtractiveChatClient : IChatClient
{
    private const int MaxSentences = 3;
    private static readonly ChatClientMetadata Metadata = new("extractive-sample", null, "extractive-answerer-v1");

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Answer([.. messages]))) { ModelId = Metadata.DefaultModelId });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var word in WordOrSpace().Matches(Answer([.. messages])).Select(static m => m.Value))
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate(ChatRole.Assistant, word) { ModelId = Metadata.DefaultModelId };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
    }

    private static string Answer(IReadOnlyList<ChatMessage> messages)
    {
        var question = messages.LastOrDefault(static m => m.Role == ChatRole.User)?.Text ?? string.Empty;
        var sources = messages.Where(static m => m.Role == ChatRole.System).SelectMany(static m => ReadSources(m.Text)).ToList();
        if (sources.Count == 0)
        {
            return "I have no source I may use to answer that.";
        }

        var wanted = Words(question);
        var best = sources
            .SelectMany(static s => Sentences().Matches(s.Text).Select(m => (s.Number, Sentence: m.Value.Trim())))
            .Where(static c => c.Sentence.Length > 20)
            .Select(c => (c.Number, c.Sentence, Score: Words(c.Sentence).Count(wanted.Contains)))
            .Where(static c => c.Score > 0)
            .OrderByDescending(static c => c.Score)
            .ThenBy(static c => c.Number)
            .Take(MaxSentences)
            .ToList();
        if (best.Count == 0)
        {
            return "The sources I may use do not answer that.";
        }

        var answer = new StringBuilder();
        foreach (var (number, sentence, _) in best)
        {
            answer.Append(sentence.TrimEnd('.')).Append(CultureInfo.InvariantCulture, $" [{number}]. ");
        }

        return answer.ToString().TrimEnd();
    }

    /// <summary>Reads the numbered sources of a grounding message: a "[n] chunk ..." header line, then the text up to the next header.</summary>
    private static IEnumerable<(int Number, string Text)> ReadSources(string grounding)
    {
        var headers = SourceHeader().Matches(grounding);
        for (var i = 0; i < headers.Count; i++)
        {
            var start = headers[i].Index + headers[i].Length;
            var end = i + 1 < headers.Count ? headers[i + 1].Index : grounding.Length;
            yield return (int.Parse(headers[i].Groups["n"].Value, CultureInfo.InvariantCulture), grounding[start..end]);
        }
    }

    private static HashSet<string> Words(string text) =>
        [.. WordPattern().Matches(text.ToLowerInvariant()).Select(static m => m.Value).Where(static w => w.Length > 3)];

    [GeneratedRegex(@"^\[(?<n>\d+)\] chunk .*$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex SourceHeader();

    [GeneratedRegex(@"(?:[^.!?\n]|\.(?=\d))+[.!?]?", RegexOptions.CultureInvariant)]
    private static partial Regex Sentences();

    [GeneratedRegex(@"\p{L}[\p{L}\p{Nd}'-]*", RegexOptions.CultureInvariant)]
    private static partial Regex WordPattern();

    [GeneratedRegex(@"\S+\s*", RegexOptions.CultureInvariant)]
    private static partial Regex WordOrSpace();
}
