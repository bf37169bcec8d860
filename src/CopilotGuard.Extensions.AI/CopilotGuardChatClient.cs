using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CopilotGuard.Client;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CopilotGuard.Extensions.AI;

/// <summary>Grounds a chat client with the data the current caller may see through CopilotGuard, and registers each answer
/// against the audit receipt of that data.</summary>
/// <remarks>
/// <para>For the last user message it retrieves as the caller named by the <see cref="CopilotGuardClient"/>'s token provider,
/// adds the released chunks as a system message of numbered sources just before that message, calls the inner client,
/// restores pseudonyms only where the server allows it for the caller, registers the answer (its SHA-256, the model and the
/// cited chunks) and reports the receipt, the answer id and the citations in <c>ChatResponse.AdditionalProperties</c>
/// (see <see cref="CopilotGuardPropertyNames"/>).</para>
/// <para>It fails closed: when retrieval or answer registration fails the call throws <see cref="CopilotGuardApiException"/>
/// and no ungrounded or untraceable answer is returned. Only decisions (receipt and answer ids, counts) are logged; chunk
/// text, questions and answers never are. The instance is thread-safe.</para>
/// </remarks>
public sealed partial class CopilotGuardChatClient : DelegatingChatClient
{
    private readonly CopilotGuardClient _client;
    private readonly CopilotGuardChatClientOptions _options;
    private readonly ILogger _logger;

    /// <summary>Initializes a new middleware over an inner chat client.</summary>
    /// <param name="innerClient">The chat client that produces the answers.</param>
    /// <param name="client">The CopilotGuard client; its token provider names the caller.</param>
    /// <param name="options">The retrieval and registration settings; the defaults when null.</param>
    /// <param name="logger">Receives decisions, never content; none when null.</param>
    /// <exception cref="ArgumentException">The options are not valid.</exception>
    public CopilotGuardChatClient(IChatClient innerClient, CopilotGuardClient client, CopilotGuardChatClientOptions? options = null, ILogger? logger = null)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _options = (options ?? new CopilotGuardChatClientOptions()).Snapshot();
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turn = await GroundAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var response = await base.GetResponseAsync(turn.Messages, turn.InnerOptions, cancellationToken).ConfigureAwait(false);
        if (turn.Retrieval is null)
        {
            return response;
        }

        var modelText = response.Text;
        var restorer = new PseudonymRestorer(_client, turn.ConversationId, turn.RestorePseudonyms);
        foreach (var content in response.Messages.SelectMany(static m => m.Contents).OfType<TextContent>())
        {
            content.Text = await restorer.RestoreAsync(content.Text, cancellationToken).ConfigureAwait(false);
        }

        var answer = await FinishAsync(turn, modelText, response.Text, response.ModelId, restorer, cancellationToken).ConfigureAwait(false);
        response.AdditionalProperties ??= [];
        foreach (var (key, value) in answer)
        {
            response.AdditionalProperties[key] = value;
        }

        return response;
    }

    /// <inheritdoc />
    /// <remarks>Pseudonyms are restored as the text streams (a placeholder split across updates is held back until it is complete).
    /// The answer is registered when the stream ends; a last update carries the CopilotGuard properties (which <c>ToChatResponse</c>
    /// puts on the last message). A consumer that stops reading early leaves the answer unregistered.</remarks>
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turn = await GroundAsync(messages, options, cancellationToken).ConfigureAwait(false);
        if (turn.Retrieval is null)
        {
            await foreach (var update in base.GetStreamingResponseAsync(turn.Messages, turn.InnerOptions, cancellationToken).ConfigureAwait(false))
            {
                yield return update;
            }

            yield break;
        }

        var restorer = new PseudonymRestorer(_client, turn.ConversationId, turn.RestorePseudonyms);
        var modelText = new StringBuilder();
        var answerText = new StringBuilder();
        string? modelId = null;
        string? responseId = null;
        string? messageId = null;
        await foreach (var update in base.GetStreamingResponseAsync(turn.Messages, turn.InnerOptions, cancellationToken).ConfigureAwait(false))
        {
            modelId ??= update.ModelId;
            responseId ??= update.ResponseId;
            messageId ??= update.MessageId;
            foreach (var content in update.Contents.OfType<TextContent>())
            {
                modelText.Append(content.Text);
                content.Text = await restorer.PushAsync(content.Text, cancellationToken).ConfigureAwait(false);
                answerText.Append(content.Text);
            }

            yield return update;
        }

        var rest = await restorer.FlushAsync(cancellationToken).ConfigureAwait(false);
        answerText.Append(rest);
        var answer = await FinishAsync(turn, modelText.ToString(), answerText.ToString(), modelId, restorer, cancellationToken).ConfigureAwait(false);
        var last = new ChatResponseUpdate(ChatRole.Assistant, rest.Length > 0 ? [new TextContent(rest)] : [])
        {
            ModelId = modelId,
            ResponseId = responseId,
            MessageId = messageId,
            AdditionalProperties = [],
        };
        foreach (var (key, value) in answer)
        {
            last.AdditionalProperties[key] = value;
        }

        yield return last;
    }

    private async Task<GroundedTurn> GroundAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        var settings = ReadSettings(options);
        var innerOptions = WithoutRequestKeys(options);
        var userIndex = LastIndexOf(list, static m => m.Role == ChatRole.User);
        if (userIndex < 0 || string.IsNullOrWhiteSpace(list[userIndex].Text))
        {
            // Nothing to retrieve for: no data is released, so the turn goes through as it is.
            LogNoUserMessage(_logger);
            return new GroundedTurn(list, innerOptions, null, [], settings.ConversationId, settings.RestorePseudonyms);
        }

        var retrieval = await _client.RetrieveAsync(
            new RetrieveRequest(list[userIndex].Text)
            {
                Top = settings.Top,
                Purpose = settings.Purpose,
                Destination = settings.Destination,
                ConversationId = settings.ConversationId,
            },
            cancellationToken).ConfigureAwait(false);
        LogGrounded(_logger, retrieval.ReceiptId, retrieval.Chunks.Count);

        var grounded = new List<ChatMessage>(list.Count + 1);
        grounded.AddRange(list.Take(userIndex));
        grounded.Add(GroundingPrompt.CreateMessage(_options.GroundingInstructions, retrieval.Chunks));
        grounded.AddRange(list.Skip(userIndex));
        return new GroundedTurn(grounded, innerOptions, retrieval, GroundingPrompt.Number(retrieval.Chunks), settings.ConversationId, settings.RestorePseudonyms);
    }

    private async Task<List<KeyValuePair<string, object?>>> FinishAsync(
        GroundedTurn turn,
        string modelText,
        string answerText,
        string? modelId,
        PseudonymRestorer restorer,
        CancellationToken cancellationToken)
    {
        var retrieval = turn.Retrieval!;
        var cited = GroundingPrompt.CitedNumbers(modelText, turn.Sources.Count).Select(n => turn.Sources[n - 1]).ToList();
        var properties = new List<KeyValuePair<string, object?>>
        {
            new(CopilotGuardPropertyNames.ReceiptId, retrieval.ReceiptId),
            new(CopilotGuardPropertyNames.ConversationId, turn.ConversationId),
            new(CopilotGuardPropertyNames.Sources, turn.Sources),
            new(CopilotGuardPropertyNames.Citations, cited),
            new(CopilotGuardPropertyNames.Deanonymization, restorer.Outcome),
            new(CopilotGuardPropertyNames.RestoredCount, restorer.RestoredCount),
        };
        LogDeanonymization(_logger, retrieval.ReceiptId, restorer.Outcome, restorer.RestoredCount);
        if (_options.RegisterAnswers)
        {
            var model = modelId ?? _options.ModelId ?? InnerClient.GetService<ChatClientMetadata>()?.DefaultModelId;
            var registered = await _client.RegisterAnswerAsync(
                new RegisterAnswerRequest([retrieval.ReceiptId])
                {
                    AnswerSha256 = Sha256(answerText),
                    Model = model,
                    CitedChunkIds = cited.Count == 0 ? null : [.. cited.Select(static c => c.ChunkId)],
                },
                cancellationToken).ConfigureAwait(false);
            properties.Add(new(CopilotGuardPropertyNames.AnswerId, registered.AnswerId));
            LogRegistered(_logger, registered.AnswerId, retrieval.ReceiptId, cited.Count);
        }

        return properties;
    }

    private TurnSettings ReadSettings(ChatOptions? options)
    {
        var extra = options?.AdditionalProperties;
        var top = _options.Top;
        if (extra is not null && extra.TryGetValue(CopilotGuardPropertyNames.Top, out var rawTop) && rawTop is not null)
        {
            top = ReadInt(rawTop) is { } value and >= 1 and <= CopilotGuardChatClientOptions.MaxTop
                ? value
                : throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{CopilotGuardPropertyNames.Top}\"] must be an integer between 1 and {CopilotGuardChatClientOptions.MaxTop}.", nameof(options));
        }

        var conversationId = ReadString(extra, CopilotGuardPropertyNames.ConversationId)
            ?? options?.ConversationId
            ?? Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);
        return new TurnSettings(
            ReadString(extra, CopilotGuardPropertyNames.Purpose) ?? _options.Purpose,
            ReadString(extra, CopilotGuardPropertyNames.Destination) ?? _options.Destination,
            top,
            conversationId,
            _options.RestorePseudonyms);
    }

    private static string? ReadString(AdditionalPropertiesDictionary? extra, string key) =>
        extra is not null && extra.TryGetValue(key, out var value) ? value switch
        {
            null => null,
            string s when !string.IsNullOrWhiteSpace(s) => s,
            JsonElement { ValueKind: JsonValueKind.String } e when !string.IsNullOrWhiteSpace(e.GetString()) => e.GetString(),
            _ => throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{key}\"] must be a non-blank string."),
        } : null;

    private static int? ReadInt(object value) => value switch
    {
        int i => i,
        long l when l is >= int.MinValue and <= int.MaxValue => (int)l,
        string s when int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
        JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetInt32(out var parsed) => parsed,
        _ => null,
    };

    private static ChatOptions? WithoutRequestKeys(ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { } extra || !extra.Keys.Any(CopilotGuardPropertyNames.IsRequestKey))
        {
            return options;
        }

        var copy = options.Clone();
        var kept = new AdditionalPropertiesDictionary();
        foreach (var (key, value) in extra)
        {
            if (!CopilotGuardPropertyNames.IsRequestKey(key))
            {
                kept[key] = value;
            }
        }

        copy.AdditionalProperties = kept.Count == 0 ? null : kept;
        return copy;
    }

    private static int LastIndexOf(IList<ChatMessage> messages, Func<ChatMessage, bool> predicate)
    {
        for (var i = messages.Count - 1; i >= 0; i--)
        {
            if (predicate(messages[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    [LoggerMessage(Level = LogLevel.Debug, Message = "No user message to ground; the turn goes to the inner client without retrieval.")]
    private static partial void LogNoUserMessage(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Grounded the turn with {ChunkCount} chunks under receipt {ReceiptId}.")]
    private static partial void LogGrounded(ILogger logger, string receiptId, int chunkCount);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Pseudonyms for receipt {ReceiptId}: {Outcome} ({RestoredCount} restored).")]
    private static partial void LogDeanonymization(ILogger logger, string receiptId, CopilotGuardDeanonymization outcome, int restoredCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered answer {AnswerId} against receipt {ReceiptId} with {CitedCount} cited chunks.")]
    private static partial void LogRegistered(ILogger logger, string answerId, string receiptId, int citedCount);

    private sealed record TurnSettings(string? Purpose, string? Destination, int Top, string ConversationId, bool RestorePseudonyms);

    private sealed record GroundedTurn(
        IList<ChatMessage> Messages,
        ChatOptions? InnerOptions,
        RetrieveResponse? Retrieval,
        IReadOnlyList<CopilotGuardCitation> Sources,
        string ConversationId,
        bool RestorePseudonyms);
}
