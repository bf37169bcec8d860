using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using CopilotGuard.Client;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Extensions.AI.Tests;

[Collection(GuardServerCollection.Name)]
public sealed partial class CopilotGuardChatClientTests(GuardServerFixture server)
{
    private static readonly string[] Withheld = ["hr", "payroll", "clinical"];
    private static readonly string[] CustomerNames = ["Derek Holloway", "Hannah Brightwater", "Leila Farouk", "Marcus Ellery"];

    [Fact]
    public async Task GetResponseAsync_Carol_GroundsOnlyWithAllowedChunks()
    {
        const string Question = "What are the salary bands and payroll figures for HR?";
        var alice = await server.ClientFor("alice").RetrieveAsync(new RetrieveRequest(Question) { Top = 20, Destination = "internal" });
        var hrTexts = alice.Chunks.Where(static c => Withheld.Contains(c.Source)).Select(static c => c.Text.Trim()).ToList();
        Assert.NotEmpty(hrTexts);
        var inner = new FakeChatClient();
        using var chat = Guarded(inner, "carol", o => (o.Top, o.Destination) = (20, "internal"));

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Question)]);

        var grounding = inner.Grounding;
        Assert.All(hrTexts, text => Assert.DoesNotContain(text, grounding, StringComparison.Ordinal));
        var sources = response.GetCopilotGuardSources();
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var stored = await server.Runtime.Store.GetAsync(source.ChunkId, CancellationToken.None);
            Assert.NotNull(stored);
            Assert.DoesNotContain(stored.Source, Withheld);
            Assert.Equal(stored.Source, source.Source);
            Assert.Contains($"[{source.Number}] chunk {source.ChunkId} · document {source.DocumentId}", grounding, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task GetResponseAsync_Bob_InsertsGroundingJustBeforeTheLastUserMessage()
    {
        var inner = new FakeChatClient();
        using var chat = Guarded(inner, "bob", o => o.Destination = "internal");
        ChatMessage[] history =
        [
            new(ChatRole.System, "You are Contoso's support copilot."),
            new(ChatRole.User, "Hi"),
            new(ChatRole.Assistant, "Hello, how can I help?"),
            new(ChatRole.User, "Our POS terminals are offline, what should I do?"),
        ];

        await chat.GetResponseAsync(history);

        var received = inner.Calls.Single().Messages;
        Assert.Equal(5, received.Count);
        Assert.Same(history[0], received[0]);
        Assert.Same(history[2], received[2]);
        Assert.Equal(ChatRole.System, received[3].Role);
        Assert.StartsWith(CopilotGuardChatClientOptions.DefaultGroundingInstructions, received[3].Text, StringComparison.Ordinal);
        Assert.Same(history[3], received[4]);
    }

    [Fact]
    public async Task GetResponseAsync_Citations_AreParsedAndRegisteredWithTheReceipt()
    {
        var inner = new FakeChatClient { Answer = static _ => "Power-cycle the terminal [1], then resync it [2, 99]. Again: [1]." };
        using var chat = Guarded(inner, "bob", o => o.Destination = "internal");

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "POS terminal offline after the sync error")]);

        var sources = response.GetCopilotGuardSources();
        Assert.True(sources.Count >= 2);
        Assert.Equal([sources[0], sources[1]], response.GetCopilotGuardCitations());
        var receiptId = response.GetCopilotGuardReceiptId();
        var answerId = response.GetCopilotGuardAnswerId();
        Assert.NotNull(receiptId);
        Assert.NotNull(answerId);

        var trace = await server.ClientFor("cora").GetAnswerTraceAsync(answerId);

        Assert.Equal("bob", trace.Principal);
        Assert.Equal(FakeChatClient.ModelId, trace.Model);
        Assert.Equal(Sha256(response.Text), trace.AnswerSha256);
        Assert.Equal(receiptId, Assert.Single(trace.Receipts).Record.GetProperty("recordId").GetString());
        Assert.Equal(sources.Select(static s => s.ChunkId), trace.Chunks.Select(static c => c.Id));
        Assert.Equal([sources[0].ChunkId, sources[1].ChunkId], trace.Chunks.Where(static c => c.Cited == true).Select(static c => c.Id));
        Assert.All(trace.Chunks, c => Assert.Equal(receiptId, c.ReceiptId));
    }

    [Fact]
    public async Task GetResponseAsync_NoCitation_RegistersWithoutCitedChunks()
    {
        var inner = new FakeChatClient { Answer = static _ => "I cannot answer from the available data." };
        using var chat = Guarded(inner, "bob", o => o.Destination = "internal");

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "How do I set up the VPN?")]);
        var trace = await server.ClientFor("cora").GetAnswerTraceAsync(response.GetCopilotGuardAnswerId()!);

        Assert.Empty(response.GetCopilotGuardCitations());
        Assert.All(trace.Chunks, static c => Assert.Null(c.Cited));
    }

    [Fact]
    public async Task GetResponseAsync_UndeclaredDestination_GroundsWithGeneralOrBelowOnly()
    {
        var inner = new FakeChatClient();
        using var chat = Guarded(inner, "bob");

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "POS terminals offline runbook escalation")]);

        Assert.All(response.GetCopilotGuardSources(), static s => Assert.Contains(s.Label, new[] { "Public", "General" }));
    }

    [Fact]
    public async Task GetResponseAsync_AgentForUser_GroundsWithTheIntersectionAndMayNotRestore()
    {
        var inner = new FakeChatClient { Answer = static _ => "Ask <PERSON_1> [1]." };
        using var chat = Guarded(inner, "bob", o => o.Destination = "internal", agent: "ticket-agent");

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "POS terminal offline: how do I reset it, and which tickets mention it?")]);

        Assert.NotEmpty(response.GetCopilotGuardSources());
        Assert.All(response.GetCopilotGuardSources(), static s => Assert.Equal("kb", s.Source));
        Assert.Equal("Ask <PERSON_1> [1].", response.Text);
        Assert.Equal(CopilotGuardDeanonymization.Denied, response.GetCopilotGuardDeanonymization());
    }

    [Fact]
    public async Task GetResponseAsync_FraudAnalyst_DeanonymizationIsRefusedAndTextKept()
    {
        string? pseudonym = null;
        var inner = new FakeChatClient { Answer = messages => $"The pattern belongs to {pseudonym = FirstPseudonym(messages)} [1]." };
        using var chat = Guarded(inner, "erin", o => (o.Destination, o.Top) = ("internal", 10));

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "Suspicious card transactions at Contoso Retail stores")]);

        Assert.All(CustomerNames, name => Assert.DoesNotContain(name, inner.Grounding, StringComparison.Ordinal));
        Assert.NotNull(pseudonym);
        Assert.Equal($"The pattern belongs to {pseudonym} [1].", response.Text);
        Assert.Equal(CopilotGuardDeanonymization.Denied, response.GetCopilotGuardDeanonymization());
        Assert.Equal(0, response.AdditionalProperties![CopilotGuardPropertyNames.RestoredCount]);
        Assert.NotNull(response.GetCopilotGuardAnswerId());
    }

    [Fact]
    public async Task GetResponseAsync_AllowedUser_RestoresPseudonymsAndRegistersTheRestoredText()
    {
        string? pseudonym = null;
        var inner = new FakeChatClient { Answer = messages => $"Quote from {pseudonym = FirstPseudonym(messages)} [1]." };
        using var chat = Guarded(inner, "carol", o => o.Top = 10);

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "press release quote from the product lead")]);

        Assert.NotNull(pseudonym);
        Assert.DoesNotContain(pseudonym, response.Text, StringComparison.Ordinal);
        Assert.EndsWith(" [1].", response.Text, StringComparison.Ordinal);
        Assert.Equal(CopilotGuardDeanonymization.Restored, response.GetCopilotGuardDeanonymization());
        Assert.Equal(1, response.AdditionalProperties![CopilotGuardPropertyNames.RestoredCount]);
        var trace = await server.ClientFor("cora").GetAnswerTraceAsync(response.GetCopilotGuardAnswerId()!);
        Assert.Equal(Sha256(response.Text), trace.AnswerSha256);
    }

    [Fact]
    public async Task GetResponseAsync_RestoreDisabled_KeepsPseudonyms()
    {
        string? pseudonym = null;
        var inner = new FakeChatClient { Answer = messages => $"Quote from {pseudonym = FirstPseudonym(messages)} [1]." };
        using var chat = Guarded(inner, "carol", o => (o.Top, o.RestorePseudonyms) = (10, false));

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "press release quote from the product lead")]);

        Assert.Contains(pseudonym!, response.Text, StringComparison.Ordinal);
        Assert.Equal(CopilotGuardDeanonymization.Disabled, response.GetCopilotGuardDeanonymization());
    }

    [Fact]
    public async Task GetResponseAsync_PerRequestProperties_OverrideOptionsAndNeverReachTheInnerClient()
    {
        var inner = new FakeChatClient();
        using var chat = Guarded(inner, "bob", o => o.Top = 5);
        var options = new ChatOptions
        {
            AdditionalProperties = new()
            {
                [CopilotGuardPropertyNames.Top] = 1,
                [CopilotGuardPropertyNames.Destination] = "internal",
                [CopilotGuardPropertyNames.ConversationId] = "support-42",
                ["temperature_hint"] = "low",
            },
        };

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "POS terminals offline")], options);

        Assert.Single(response.GetCopilotGuardSources());
        Assert.Equal("support-42", response.AdditionalProperties![CopilotGuardPropertyNames.ConversationId]);
        var innerOptions = inner.Calls.Single().Options;
        Assert.NotNull(innerOptions);
        Assert.Equal(["temperature_hint"], innerOptions.AdditionalProperties!.Keys);
        Assert.Equal(4, options.AdditionalProperties.Count);
    }

    [Fact]
    public async Task GetResponseAsync_InvalidPerRequestTop_Throws()
    {
        using var chat = Guarded(new FakeChatClient(), "bob");
        var options = new ChatOptions { AdditionalProperties = new() { [CopilotGuardPropertyNames.Top] = 500 } };

        await Assert.ThrowsAsync<ArgumentException>(() => chat.GetResponseAsync([new ChatMessage(ChatRole.User, "vpn")], options));
    }

    [Fact]
    public async Task GetResponseAsync_NoUserMessage_PassesThroughWithoutRetrieval()
    {
        var inner = new FakeChatClient();
        using var chat = Guarded(inner, "bob");

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.System, "Say hello.")]);

        Assert.Single(inner.Calls.Single().Messages);
        Assert.Null(response.GetCopilotGuardReceiptId());
    }

    [Fact]
    public async Task GetResponseAsync_BadToken_FailsClosedBeforeTheModelIsCalled()
    {
        var inner = new FakeChatClient();
        var client = new CopilotGuardClient(server.Http, new CopilotGuardClientOptions { Endpoint = server.Endpoint, TokenProvider = CopilotGuardTokenProviders.Static("forged") });
        using var chat = new CopilotGuardChatClient(inner, client);

        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => chat.GetResponseAsync([new ChatMessage(ChatRole.User, "vpn")]));

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, exception.StatusCode);
        Assert.Empty(inner.Calls);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_SplitPseudonym_IsRestoredAndTheAnswerRegistered()
    {
        string? pseudonym = null;
        var inner = new FakeChatClient
        {
            StreamPieces = messages =>
            {
                pseudonym = FirstPseudonym(messages);
                return ["Quote from ", pseudonym[..4], pseudonym[4..^1], pseudonym[^1..], " [1] and [2]."];
            },
        };
        using var chat = Guarded(inner, "carol", o => o.Top = 10);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in chat.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "press release quote from the product lead")]))
        {
            updates.Add(update);
        }

        var response = updates.ToChatResponse();
        Assert.DoesNotContain("<", response.Text, StringComparison.Ordinal);
        Assert.StartsWith("Quote from ", response.Text, StringComparison.Ordinal);
        Assert.EndsWith(" [1] and [2].", response.Text, StringComparison.Ordinal);
        Assert.Equal(CopilotGuardDeanonymization.Restored, response.GetCopilotGuardDeanonymization());
        Assert.Equal(2, response.GetCopilotGuardCitations().Count);
        Assert.Single(response.Messages);
        var trace = await server.ClientFor("cora").GetAnswerTraceAsync(response.GetCopilotGuardAnswerId()!);
        Assert.Equal(Sha256(response.Text), trace.AnswerSha256);
        Assert.Equal(response.GetCopilotGuardReceiptId(), Assert.Single(trace.Receipts).Record.GetProperty("recordId").GetString());
    }

    [Fact]
    public async Task GetStreamingResponseAsync_FraudAnalyst_KeepsPseudonyms()
    {
        string? pseudonym = null;
        var inner = new FakeChatClient { StreamPieces = messages => ["Customer ", pseudonym = FirstPseudonym(messages), " [1]."] };
        using var chat = Guarded(inner, "erin", o => o.Destination = "internal");

        var response = await chat.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "flagged card transactions")]).ToChatResponseAsync();

        Assert.Equal($"Customer {pseudonym} [1].", response.Text);
        Assert.Equal(CopilotGuardDeanonymization.Denied, response.GetCopilotGuardDeanonymization());
        Assert.NotNull(response.GetCopilotGuardAnswerId());
    }

    [Fact]
    public void UseCopilotGuard_InvalidOptions_FailsWhenThePipelineIsBuilt()
    {
        var builder = new ChatClientBuilder(new FakeChatClient()).UseCopilotGuard(server.ClientFor("bob"), static o => o.Top = 0);

        var exception = Assert.Throws<ArgumentException>(() => builder.Build());

        Assert.Contains("Top", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseCopilotGuard_WithoutClient_ResolvesItFromServices()
    {
        var services = new ServiceCollection();
        services.AddCopilotGuardClient(o => (o.Endpoint, o.TokenProvider) = (server.Endpoint, CopilotGuardTokenProviders.Static(server.Token("bob"))));
        await using var provider = services.BuildServiceProvider();
        var inner = new FakeChatClient();
        using var chat = new ChatClientBuilder(inner).UseCopilotGuard(configure: static o => o.Destination = "internal").Build(provider);

        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "vpn setup")]);

        Assert.NotNull(chat.GetService<CopilotGuardChatClient>());
        Assert.NotNull(response.GetCopilotGuardAnswerId());
    }

    private IChatClient Guarded(FakeChatClient inner, string user, Action<CopilotGuardChatClientOptions>? configure = null, string? agent = null) =>
        new ChatClientBuilder(inner).UseCopilotGuard(server.ClientFor(user, agent), configure).Build();

    private static string FirstPseudonym(IReadOnlyList<ChatMessage> messages)
    {
        var match = PseudonymPattern().Match(string.Join("\n", messages.Select(static m => m.Text)));
        Assert.True(match.Success, "The grounding holds no pseudonym.");
        return match.Value;
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    [GeneratedRegex("<[A-Z][A-Z_]*_[0-9]+>")]
    private static partial Regex PseudonymPattern();
}
