using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace CopilotGuard.Client.Tests;

/// <summary>What the client does on the wire, against a hand-written handler for answers the real server never gives.</summary>
public sealed class CopilotGuardClientProtocolTests
{
    private static readonly Uri Endpoint = new("http://guard.test/base");

    [Fact]
    public async Task RetrieveAsync_SendsBearerTokenFromTheProviderOnEachRequest()
    {
        var handler = new StubHandler { OnSend = static (_, _) => Task.FromResult(Json(HttpStatusCode.OK, """{"receiptId":"r-1","chunks":[],"future":1}""")) };
        var tokens = 0;
        var client = Create(handler, _ => ValueTask.FromResult($"token-{++tokens}"));

        await client.RetrieveAsync(new RetrieveRequest("q"));
        var result = await client.RetrieveAsync(new RetrieveRequest("q"));

        Assert.Equal("r-1", result.ReceiptId);
        Assert.Equal(["token-1", "token-2"], handler.Requests.Select(static r => r.Headers.Authorization!.Parameter));
        Assert.All(handler.Requests, static r => Assert.Equal("Bearer", r.Headers.Authorization!.Scheme));
        Assert.Equal("http://guard.test/base/v1/retrieve", handler.Requests[0].RequestUri!.AbsoluteUri);
    }

    [Fact]
    public async Task RetrieveAsync_OmitsUnsetMembers()
    {
        string? body = null;
        var handler = new StubHandler
        {
            OnSend = async (request, ct) =>
            {
                body = await request.Content!.ReadAsStringAsync(ct);
                return Json(HttpStatusCode.OK, """{"receiptId":"r","chunks":[]}""");
            },
        };

        await Create(handler).RetrieveAsync(new RetrieveRequest("vpn") { Top = 3 });

        Assert.Equal("""{"query":"vpn","top":3}""", body);
    }

    [Fact]
    public async Task RetrieveAsync_CancelledWhileWaiting_ThrowsOperationCanceled()
    {
        var entered = new TaskCompletionSource();
        var handler = new StubHandler
        {
            OnSend = async (_, ct) =>
            {
                entered.SetResult();
                await Task.Delay(Timeout.Infinite, ct);
                return new HttpResponseMessage(HttpStatusCode.OK);
            },
        };
        using var cancellation = new CancellationTokenSource();

        var call = Create(handler).RetrieveAsync(new RetrieveRequest("q"), cancellation.Token);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
    }

    [Fact]
    public async Task RetrieveAsync_TokenProviderSeesTheCancellationToken()
    {
        CancellationToken seen = default;
        using var cancellation = new CancellationTokenSource();
        var handler = new StubHandler { OnSend = static (_, _) => Task.FromResult(Json(HttpStatusCode.OK, """{"receiptId":"r","chunks":[]}""")) };

        await Create(handler, ct => { seen = ct; return ValueTask.FromResult("t"); }).RetrieveAsync(new RetrieveRequest("q"), cancellation.Token);

        Assert.Equal(cancellation.Token, seen);
    }

    [Fact]
    public async Task RetrieveAsync_RateLimited_ExposesRetryAfter()
    {
        var handler = new StubHandler
        {
            OnSend = static (_, _) =>
            {
                var response = Problem(HttpStatusCode.TooManyRequests, "Too many requests", "Slow down.");
                response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
                return Task.FromResult(response);
            },
        };

        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => Create(handler).RetrieveAsync(new RetrieveRequest("q")));

        Assert.Equal(HttpStatusCode.TooManyRequests, exception.StatusCode);
        Assert.Equal("Slow down.", exception.Detail);
        Assert.Equal(TimeSpan.FromSeconds(7), exception.RetryAfter);
    }

    [Fact]
    public async Task RetrieveAsync_ErrorWithoutProblemBody_ThrowsWithStatus()
    {
        var handler = new StubHandler
        {
            OnSend = static (_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.BadGateway) { ReasonPhrase = "Bad Gateway", Content = new StringContent("<html>proxy</html>", Encoding.UTF8, "text/html") }),
        };

        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => Create(handler).RetrieveAsync(new RetrieveRequest("q")));

        Assert.Equal(HttpStatusCode.BadGateway, exception.StatusCode);
        Assert.Equal("Bad Gateway", exception.Title);
        Assert.Null(exception.Detail);
    }

    [Fact]
    public async Task RetrieveAsync_SuccessWithMalformedBody_ThrowsApiException()
    {
        var handler = new StubHandler { OnSend = static (_, _) => Task.FromResult(Json(HttpStatusCode.OK, "{not json")) };

        var exception = await Assert.ThrowsAsync<CopilotGuardApiException>(() => Create(handler).RetrieveAsync(new RetrieveRequest("q")));

        Assert.IsType<System.Text.Json.JsonException>(exception.InnerException, exactMatch: false);
    }

    [Fact]
    public async Task RetrieveAsync_EmptyToken_Throws()
    {
        var handler = new StubHandler();

        await Assert.ThrowsAsync<InvalidOperationException>(() => Create(handler, _ => ValueTask.FromResult(" ")).RetrieveAsync(new RetrieveRequest("q")));
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task GetAnswerTraceAsync_EscapesTheAnswerId()
    {
        var handler = new StubHandler { OnSend = static (_, _) => Task.FromResult(Problem(HttpStatusCode.NotFound, "Not found", "none")) };

        await Assert.ThrowsAsync<CopilotGuardApiException>(() => Create(handler).GetAnswerTraceAsync("a/../b c"));

        Assert.Equal("/base/v1/audit/answers/a%2F..%2Fb%20c", handler.Requests.Single().RequestUri!.AbsolutePath);
    }

    private static CopilotGuardClient Create(StubHandler handler, Func<CancellationToken, ValueTask<string>>? tokens = null) =>
        new(new HttpClient(handler), new CopilotGuardClientOptions { Endpoint = Endpoint, TokenProvider = tokens ?? CopilotGuardTokenProviders.Static("t") });

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Problem(HttpStatusCode status, string title, string detail) =>
        new(status) { Content = new StringContent($$"""{"type":"about:blank","title":"{{title}}","status":{{(int)status}},"detail":"{{detail}}"}""", Encoding.UTF8, "application/problem+json") };
}
