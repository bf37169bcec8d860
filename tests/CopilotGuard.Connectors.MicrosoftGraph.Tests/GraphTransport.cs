using System.Net;
using System.Text;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;

namespace CopilotGuard.Connectors.MicrosoftGraph.Tests;

/// <summary>The last hop of the Graph SDK's pipeline: records every request and answers from a script.</summary>
internal sealed class GraphTransport : HttpMessageHandler
{
    private readonly Queue<Func<HttpRequestMessage, HttpResponseMessage>> _script = new();

    public List<(string Method, Uri Uri, Dictionary<string, string> Headers)> Requests { get; } = [];

    public GraphTransport Reply(HttpStatusCode status, string? json = null, params (string Name, string Value)[] headers)
    {
        _script.Enqueue(_ =>
        {
            var response = new HttpResponseMessage(status);
            if (json is not null)
            {
                response.Content = new StringContent(json, Encoding.UTF8, "application/json");
            }

            foreach (var (name, value) in headers)
            {
                response.Headers.TryAddWithoutValidation(name, value);
            }

            return response;
        });
        return this;
    }

    public GraphTransport Throw(Exception exception)
    {
        _script.Enqueue(_ => throw exception);
        return this;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Add((request.Method.Method, request.RequestUri!, request.Headers.ToDictionary(static h => h.Key, static h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)));
        if (_script.Count == 0)
        {
            throw new InvalidOperationException($"Unexpected request {request.Method} {request.RequestUri}");
        }

        var response = _script.Dequeue()(request);
        response.RequestMessage = request;
        return Task.FromResult(response);
    }

    public static string Error(string code, string message) =>
        "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message
        + "\",\"innerError\":{\"date\":\"2026-11-28T09:00:00\",\"request-id\":\"5f3c7f6e-0000-0000-0000-000000000000\",\"client-request-id\":\"5f3c7f6e-0000-0000-0000-000000000000\"}}}";
}

/// <summary>Adds a fixed bearer token, as an Azure.Identity credential would.</summary>
internal sealed class StaticTokenProvider : IAuthenticationProvider
{
    public Task AuthenticateRequestAsync(RequestInformation request, Dictionary<string, object>? additionalAuthenticationContext = null, CancellationToken cancellationToken = default)
    {
        request.Headers.Add("Authorization", "Bearer test-graph-token");
        return Task.CompletedTask;
    }
}
