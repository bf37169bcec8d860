namespace CopilotGuard.Client.Tests;

/// <summary>A hand-written HTTP handler whose answer is a callback, for what the real server cannot be made to do.</summary>
internal sealed class StubHandler : HttpMessageHandler
{
    public Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> OnSend { get; set; } =
        static (_, _) => Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));

    public List<HttpRequestMessage> Requests { get; } = [];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Add(request);
        return OnSend(request, cancellationToken);
    }
}
