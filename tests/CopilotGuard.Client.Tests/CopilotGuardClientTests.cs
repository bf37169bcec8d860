using System.Net;

namespace CopilotGuard.Client.Tests;

[Collection(GuardServerCollection.Name)]
public sealed class CopilotGuardClientTests(GuardServerFixture server)
{
    private static readonly string[] Withheld = ["hr", "payroll", "clinical"];

    [Fact]
    public async Task RetrieveAsync_Bob_ReturnsReceiptAndOnlyHisChunks()
    {
        var result = await server.ClientFor("bob").RetrieveAsync(new RetrieveRequest("POS terminals offline") { Top = 10, Destination = "internal" });

        Assert.False(string.IsNullOrWhiteSpace(result.ReceiptId));
        Assert.NotEmpty(result.Chunks);
        Assert.All(result.Chunks, chunk =>
        {
            Assert.False(string.IsNullOrEmpty(chunk.DocumentId));
            Assert.DoesNotContain(chunk.Source, Withheld);
            Assert.False(string.IsNullOrEmpty(chunk.Text));
        });
    }

    [Fact]
    public async Task RetrieveAsync_Carol_NeverGetsHrOrPayroll()
    {
        var result = await server.ClientFor("carol").RetrieveAsync(new RetrieveRequest("salary bands and payroll") { Top = 20, Destination = "internal" });

        Assert.All(result.Chunks, chunk => Assert.DoesNotContain(chunk.Source, Withheld));
    }

    [Fact]
    public async Task RetrieveAsync_BadToken_Throws401WithDetail()
    {
        var client = new CopilotGuardClient(server.Http, new CopilotGuardClientOptions { Endpoint = server.Endpoint, TokenProvider = CopilotGuardTokenProviders.Static("not-a-token") });

        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => client.RetrieveAsync(new RetrieveRequest("vpn")));

        Assert.Equal(HttpStatusCode.Unauthorized, exception.StatusCode);
        Assert.Equal("Unauthorized", exception.Title);
        Assert.Equal("The bearer token is not valid.", exception.Detail);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(51)]
    public async Task RetrieveAsync_TopOutOfRange_ThrowsProblem400(int top)
    {
        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => server.ClientFor("bob").RetrieveAsync(new RetrieveRequest("vpn") { Top = top }));

        Assert.Equal(HttpStatusCode.BadRequest, exception.StatusCode);
        Assert.Equal("Invalid request", exception.Title);
        Assert.False(string.IsNullOrWhiteSpace(exception.Detail));
        Assert.Contains(exception.Detail!, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetrieveAsync_CancelledToken_ThrowsWithoutCallingTheServer()
    {
        var calls = 0;
        var client = new CopilotGuardClient(server.Http, new CopilotGuardClientOptions
        {
            Endpoint = server.Endpoint,
            TokenProvider = _ => { calls++; return ValueTask.FromResult(server.Token("bob")); },
        });
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.RetrieveAsync(new RetrieveRequest("vpn"), cancellation.Token));
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task RegisterAnswerAsync_ThenTraceAsCora_ListsTheReceiptAndCitedChunk()
    {
        var bob = server.ClientFor("bob");
        var retrieval = await bob.RetrieveAsync(new RetrieveRequest("reset a POS terminal") { Top = 3, Destination = "internal" });
        var cited = retrieval.Chunks[0].Id;

        var registered = await bob.RegisterAnswerAsync(new RegisterAnswerRequest([retrieval.ReceiptId]) { Answer = "Hold the power button [1].", Model = "test-model", CitedChunkIds = [cited] });
        var trace = await server.ClientFor("cora").GetAnswerTraceAsync(registered.AnswerId);

        Assert.Equal(registered.AnswerId, trace.AnswerId);
        Assert.Equal("bob", trace.Principal);
        Assert.Equal("test-model", trace.Model);
        Assert.Equal(registered.AnswerSha256, trace.AnswerSha256);
        Assert.Equal(retrieval.ReceiptId, Assert.Single(trace.Receipts).Record.GetProperty("recordId").GetString());
        Assert.Equal([.. retrieval.Chunks.Select(static c => c.Id)], trace.Chunks.Select(static c => c.Id));
        Assert.True(trace.Chunks.Single(c => c.Id == cited).Cited);
    }

    [Fact]
    public async Task RegisterAnswerAsync_SomeoneElsesReceipt_ThrowsNotFound()
    {
        var retrieval = await server.ClientFor("bob").RetrieveAsync(new RetrieveRequest("vpn setup") { Destination = "internal" });

        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() =>
            server.ClientFor("carol").RegisterAnswerAsync(new RegisterAnswerRequest([retrieval.ReceiptId]) { Answer = "x" }));

        Assert.Equal(HttpStatusCode.NotFound, exception.StatusCode);
        Assert.Contains(retrieval.ReceiptId, exception.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAnswerTraceAsync_NotACompliancePrincipal_ThrowsForbidden()
    {
        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => server.ClientFor("bob").GetAnswerTraceAsync("no-such-answer"));

        Assert.Equal(HttpStatusCode.Forbidden, exception.StatusCode);
        Assert.Equal("Forbidden", exception.Title);
    }

    [Fact]
    public async Task GetAnswerTraceAsync_UnknownAnswer_ThrowsNotFound()
    {
        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => server.ClientFor("cora").GetAnswerTraceAsync("no-such-answer"));

        Assert.Equal(HttpStatusCode.NotFound, exception.StatusCode);
    }

    [Fact]
    public async Task ExplainAsync_CarolOnAnHrChunk_IsNotVisible()
    {
        var hrChunk = await server.ClientFor("alice").RetrieveAsync(new RetrieveRequest("parental leave policy") { Top = 5, Destination = "internal" });
        var chunk = hrChunk.Chunks.First(static c => c.Source == "hr");

        var explanation = await server.ClientFor("carol").ExplainAsync(new ExplainRequest(chunk.Id) { Destination = "internal" });

        Assert.Equal(chunk.Id, explanation.ChunkId);
        Assert.False(explanation.Visible);
        Assert.False(string.IsNullOrWhiteSpace(explanation.Reason));
        Assert.False(string.IsNullOrWhiteSpace(explanation.PolicyVersion));
    }

    [Fact]
    public async Task DeanonymizeAsync_FraudAnalyst_IsForbidden()
    {
        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() =>
            server.ClientFor("erin").DeanonymizeAsync(new DeanonymizeRequest("conversation-1", "Ask <PERSON_1>.")));

        Assert.Equal(HttpStatusCode.Forbidden, exception.StatusCode);
        Assert.Equal("Forbidden", exception.Title);
    }

    [Fact]
    public async Task DeanonymizeAsync_OwnConversation_RestoresThePseudonymsOfTheRetrieval()
    {
        var carol = server.ClientFor("carol");
        var conversation = Guid.NewGuid().ToString("N");
        var retrieval = await carol.RetrieveAsync(new RetrieveRequest("press release quote from the product lead") { Top = 10, ConversationId = conversation });
        var pseudonym = retrieval.Chunks.Select(static c => System.Text.RegularExpressions.Regex.Match(c.Text, "<PERSON_[0-9]+>")).First(static m => m.Success).Value;

        var restored = await carol.DeanonymizeAsync(new DeanonymizeRequest(conversation, $"Ask {pseudonym}."));
        var elsewhere = await carol.DeanonymizeAsync(new DeanonymizeRequest("another-conversation", $"Ask {pseudonym}."));

        Assert.Equal(1, restored.Restored);
        Assert.DoesNotContain(pseudonym, restored.Text, StringComparison.Ordinal);
        Assert.Equal(0, elsewhere.Restored);
        Assert.Equal($"Ask {pseudonym}.", elsewhere.Text);
    }
}
