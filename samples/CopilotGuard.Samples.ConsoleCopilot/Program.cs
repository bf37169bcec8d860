// A console copilot: each question is grounded through CopilotGuard as the caller whose token is given, answered by a
// local extractive stand-in for a model, and registered against its audit receipt.
using CopilotGuard.Client;
using CopilotGuard.Extensions.AI;
using CopilotGuard.Samples.ConsoleCopilot;
using Microsoft.Extensions.AI;

var settings = Settings.Parse(args);
if (settings is null)
{
    Console.Error.WriteLine("""
        usage: ConsoleCopilot [--url URL] [--token TOKEN] [--destination D] [--purpose P] [--top N] [--stream] [QUESTION]
          --token defaults to $COPILOTGUARD_TOKEN (mint one with: copilotguard token --user carol --data ./data)
          --destination defaults to "internal": the extractive answerer runs in this process
          without QUESTION, questions are read from standard input, one per line
        """);
    return 2;
}

using var http = new HttpClient();
var guard = new CopilotGuardClient(http, new CopilotGuardClientOptions
{
    Endpoint = settings.Endpoint,
    TokenProvider = CopilotGuardTokenProviders.Static(settings.Token),
});
using var copilot = new ChatClientBuilder(new ExtractiveChatClient())
    .UseCopilotGuard(guard, o => (o.Destination, o.Purpose, o.Top) = (settings.Destination, settings.Purpose, settings.Top))
    .Build();

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
var conversation = new ChatOptions { AdditionalProperties = new() { [CopilotGuardPropertyNames.ConversationId] = Guid.NewGuid().ToString("N") } };
try
{
    foreach (var question in settings.Question is { } single ? [single] : ReadQuestions())
    {
        ChatMessage[] turn = [new(ChatRole.System, "You are Contoso's internal copilot."), new(ChatRole.User, question)];
        ChatResponse response;
        if (settings.Stream)
        {
            var updates = new List<ChatResponseUpdate>();
            await foreach (var update in copilot.GetStreamingResponseAsync(turn, conversation, stop.Token))
            {
                Console.Write(update.Text);
                updates.Add(update);
            }

            Console.WriteLine();
            response = updates.ToChatResponse();
        }
        else
        {
            response = await copilot.GetResponseAsync(turn, conversation, stop.Token);
            Console.WriteLine(response.Text);
        }

        Print(response);
    }

    return 0;
}
catch (CopilotGuardApiException exception)
{
    Console.Error.WriteLine($"CopilotGuard refused the request: {(int)exception.StatusCode} {exception.Title}: {exception.Detail}");
    return 1;
}
catch (HttpRequestException exception)
{
    Console.Error.WriteLine($"Cannot reach CopilotGuard at {settings.Endpoint}: {exception.Message} (start it with: copilotguard serve --data ./data)");
    return 1;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    return 130;
}

static void Print(ChatResponse response)
{
    foreach (var citation in response.GetCopilotGuardCitations())
    {
        Console.WriteLine($"  [{citation.Number}] {citation.Title ?? citation.DocumentId} (document {citation.DocumentId}, chunk {citation.ChunkId}, {citation.Source}, {citation.Label})");
    }

    Console.WriteLine($"  receipt {response.GetCopilotGuardReceiptId()} · answer {response.GetCopilotGuardAnswerId()} · pseudonyms: {response.GetCopilotGuardDeanonymization()}");
    Console.WriteLine();
}

static IEnumerable<string> ReadQuestions()
{
    while (true)
    {
        Console.Write("> ");
        var line = Console.ReadLine();
        if (line is null)
        {
            yield break;
        }

        if (!string.IsNullOrWhiteSpace(line))
        {
            yield return line.Trim();
        }
    }
}

namespace CopilotGuard.Samples.ConsoleCopilot
{
    /// <summary>The command line of the sample.</summary>
    internal sealed record Settings(Uri Endpoint, string Token, string? Destination, string? Purpose, int Top, bool Stream, string? Question)
    {
        public static Settings? Parse(string[] args)
        {
            var endpoint = CopilotGuardClientOptions.DefaultEndpoint;
            var token = Environment.GetEnvironmentVariable("COPILOTGUARD_TOKEN");
            string? destination = "internal", purpose = null, question = null;
            var top = 5;
            var stream = false;
            for (var i = 0; i < args.Length; i++)
            {
                string? Next() => i + 1 < args.Length ? args[++i] : null;
                switch (args[i])
                {
                    case "--url" when Uri.TryCreate(Next(), UriKind.Absolute, out var url): endpoint = url; break;
                    case "--token": token = Next(); break;
                    case "--destination": destination = Next(); break;
                    case "--purpose": purpose = Next(); break;
                    case "--top" when int.TryParse(Next(), out var n): top = n; break;
                    case "--stream": stream = true; break;
                    case var arg when !arg.StartsWith("--", StringComparison.Ordinal) && question is null: question = arg; break;
                    default: return null;
                }
            }

            return string.IsNullOrWhiteSpace(token) ? null : new Settings(endpoint, token, destination, purpose, top, stream, question);
        }
    }
}
