using System.Net;
using System.Text;
using System.Text.Json;
using CopilotGuard.Client;

namespace CopilotGuard.Extensions.AI.Tests;

/// <summary>The streaming hold-back, against a hand-written handler that plays the server's <c>POST /v1/deanonymize</c>.</summary>
public sealed class PseudonymRestorerTests
{
    [Fact]
    public async Task PushAsync_TextWithoutPseudonyms_PassesThroughAtOnceWithoutCallingTheServer()
    {
        var handler = new DeanonymizeHandler();
        var restorer = new PseudonymRestorer(handler.Client(), "c", enabled: true);

        Assert.Equal("a < b and ", await restorer.PushAsync("a < b and ", default));
        Assert.Equal("<html> x", await restorer.PushAsync("<html> x", default));
        Assert.Equal(string.Empty, await restorer.FlushAsync(default));
        Assert.Equal(0, handler.Calls);
        Assert.Equal(CopilotGuardDeanonymization.NoPseudonyms, restorer.Outcome);
    }

    [Fact]
    public async Task PushAsync_SplitPseudonym_IsHeldBackThenRestoredOnce()
    {
        var handler = new DeanonymizeHandler();
        var restorer = new PseudonymRestorer(handler.Client(), "c", enabled: true);

        Assert.Equal("Ask ", await restorer.PushAsync("Ask <PER", default));
        Assert.Equal(string.Empty, await restorer.PushAsync("SON_1", default));
        Assert.Equal("Ann Lee and Ann Lee", await restorer.PushAsync("> and <PERSON_1>", default));
        Assert.Equal(".", await restorer.PushAsync(".", default));

        Assert.Equal(1, handler.Calls);
        Assert.Equal(2, restorer.RestoredCount);
        Assert.Equal(CopilotGuardDeanonymization.Restored, restorer.Outcome);
    }

    [Fact]
    public async Task FlushAsync_UnfinishedPlaceholder_IsReturnedAsIs()
    {
        var restorer = new PseudonymRestorer(new DeanonymizeHandler().Client(), "c", enabled: true);

        Assert.Equal("End ", await restorer.PushAsync("End <PERSON_", default));
        Assert.Equal("<PERSON_", await restorer.FlushAsync(default));
    }

    [Theory]
    [InlineData(HttpStatusCode.Forbidden, CopilotGuardDeanonymization.Denied)]
    [InlineData(HttpStatusCode.NotFound, CopilotGuardDeanonymization.Unavailable)]
    public async Task RestoreAsync_Refused_KeepsTextAndStopsAsking(HttpStatusCode status, CopilotGuardDeanonymization outcome)
    {
        var handler = new DeanonymizeHandler { Status = status };
        var restorer = new PseudonymRestorer(handler.Client(), "c", enabled: true);

        Assert.Equal("Ask <PERSON_1>.", await restorer.RestoreAsync("Ask <PERSON_1>.", default));
        Assert.Equal("And <PERSON_2>.", await restorer.RestoreAsync("And <PERSON_2>.", default));

        Assert.Equal(1, handler.Calls);
        Assert.Equal(outcome, restorer.Outcome);
    }

    [Fact]
    public async Task RestoreAsync_ServerFailure_Throws()
    {
        var restorer = new PseudonymRestorer(new DeanonymizeHandler { Status = HttpStatusCode.ServiceUnavailable }.Client(), "c", enabled: true);

        await Assert.ThrowsAsync<CopilotGuardApiException>(() => restorer.RestoreAsync("Ask <PERSON_1>.", default));
    }

    private sealed class DeanonymizeHandler : HttpMessageHandler
    {
        public HttpStatusCode Status { get; init; } = HttpStatusCode.OK;

        public int Calls { get; private set; }

        public CopilotGuardClient Client() =>
            new(new HttpClient(this), new CopilotGuardClientOptions { Endpoint = new Uri("http://guard.test/"), TokenProvider = CopilotGuardTokenProviders.Static("t") });

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            Assert.Equal("/v1/deanonymize", request.RequestUri!.AbsolutePath);
            if (Status != HttpStatusCode.OK)
            {
                return new HttpResponseMessage(Status) { Content = new StringContent($$"""{"title":"No","status":{{(int)Status}},"detail":"no"}""", Encoding.UTF8, "application/problem+json") };
            }

            using var body = JsonDocument.Parse(await request.Content!.ReadAsStringAsync(cancellationToken));
            var text = body.RootElement.GetProperty("text").GetString()!;
            var restored = text.Replace("<PERSON_1>", "Ann Lee", StringComparison.Ordinal);
            var count = (text.Length - restored.Length) / ("<PERSON_1>".Length - "Ann Lee".Length);
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent(JsonSerializer.Serialize(new { text = restored, restored = count }), Encoding.UTF8, "application/json"),
            };
        }
    }
}
