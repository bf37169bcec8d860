using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace CopilotGuard.Client;

/// <summary>Calls a CopilotGuard server over HTTP as the caller named by the configured token provider.</summary>
/// <remarks>Thread-safe: one instance can serve many callers, because the token provider is asked for a token on every
/// request. Every error the server answers is thrown as a <see cref="CopilotGuardApiException"/>.</remarks>
public sealed class CopilotGuardClient
{
    private static readonly MediaTypeWithQualityHeaderValue Json = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue ProblemJson = new("application/problem+json");
    private const int MaxProblemBodyChars = 16 * 1024;

    private readonly HttpClient _http;
    private readonly Func<CancellationToken, ValueTask<string>> _tokenProvider;

    /// <summary>Initializes a new client over an <see cref="HttpClient"/> the caller owns.</summary>
    /// <param name="httpClient">The HTTP client; its base address is ignored in favour of <see cref="CopilotGuardClientOptions.Endpoint"/>.</param>
    /// <param name="options">The endpoint and the token provider.</param>
    /// <exception cref="ArgumentException">The options are not valid.</exception>
    public CopilotGuardClient(HttpClient httpClient, CopilotGuardClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _http = httpClient;
        _tokenProvider = options.TokenProvider!;
        var endpoint = options.Endpoint.AbsoluteUri;
        Endpoint = new Uri(endpoint.EndsWith('/') ? endpoint : endpoint + "/", UriKind.Absolute);
    }

    /// <summary>Gets the server's base address.</summary>
    public Uri Endpoint { get; }

    /// <summary>Retrieves the grounding chunks the caller may see for a query, with the audit receipt.</summary>
    /// <param name="request">The query, how many chunks, the purpose, the destination and the conversation.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The receipt id and the released chunks, best first.</returns>
    /// <exception cref="CopilotGuardApiException">The server refused or failed the retrieval; no data was released.</exception>
    public Task<RetrieveResponse> RetrieveAsync(RetrieveRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync(HttpMethod.Post, "v1/retrieve", JsonContent.Create(request, CopilotGuardJsonContext.Default.RetrieveRequest), CopilotGuardJsonContext.Default.RetrieveResponse, cancellationToken);
    }

    /// <summary>Registers an answer against the receipts that grounded it, so compliance can trace the data behind it.</summary>
    /// <param name="request">The receipts, the answer or its SHA-256, the model and the cited chunks.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The answer id.</returns>
    /// <exception cref="CopilotGuardApiException">The server refused the registration (for example, a receipt the caller does not own).</exception>
    public Task<RegisterAnswerResponse> RegisterAnswerAsync(RegisterAnswerRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync(HttpMethod.Post, "v1/answers", JsonContent.Create(request, CopilotGuardJsonContext.Default.RegisterAnswerRequest), CopilotGuardJsonContext.Default.RegisterAnswerResponse, cancellationToken);
    }

    /// <summary>Explains why a chunk is or is not visible to the caller (or, for security admins, to another principal).</summary>
    /// <param name="request">The chunk and the view to explain.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The decision and the rules behind it.</returns>
    /// <exception cref="CopilotGuardApiException">The server refused or failed the explanation.</exception>
    public Task<ExplainResponse> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync(HttpMethod.Post, "v1/policy/explain", JsonContent.Create(request, CopilotGuardJsonContext.Default.ExplainRequest), CopilotGuardJsonContext.Default.ExplainResponse, cancellationToken);
    }

    /// <summary>Restores the real values behind a conversation's pseudonyms, where the policy allows the caller to see them.</summary>
    /// <param name="request">The conversation and the text with pseudonyms.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The restored text and how many pseudonyms were restored.</returns>
    /// <exception cref="CopilotGuardApiException">The caller may not de-anonymize (403), or the server does not offer it (404).</exception>
    public Task<DeanonymizeResponse> DeanonymizeAsync(DeanonymizeRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync(HttpMethod.Post, "v1/deanonymize", JsonContent.Create(request, CopilotGuardJsonContext.Default.DeanonymizeRequest), CopilotGuardJsonContext.Default.DeanonymizeResponse, cancellationToken);
    }

    /// <summary>Gets the receipts and the exact chunks behind a registered answer (compliance officers only).</summary>
    /// <param name="answerId">The answer id returned by <see cref="RegisterAnswerAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The answer's trace.</returns>
    /// <exception cref="CopilotGuardApiException">The caller may not read the audit log (403), or no answer has that id (404).</exception>
    public Task<AnswerTrace> GetAnswerTraceAsync(string answerId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(answerId);
        return SendAsync(HttpMethod.Get, "v1/audit/answers/" + Uri.EscapeDataString(answerId), content: null, CopilotGuardJsonContext.Default.AnswerTrace, cancellationToken);
    }

    private async Task<TResponse> SendAsync<TResponse>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
    {
        using (content)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var token = await _tokenProvider(cancellationToken).ConfigureAwait(false);
            if (string.IsNullOrWhiteSpace(token))
            {
                throw new InvalidOperationException("The CopilotGuard token provider returned an empty token.");
            }

            using var request = new HttpRequestMessage(method, new Uri(Endpoint, path)) { Content = content };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.Accept.Add(Json);
            request.Headers.Accept.Add(ProblemJson);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw await ReadProblemAsync(response, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                var body = await response.Content.ReadFromJsonAsync(responseType, cancellationToken).ConfigureAwait(false);
                return body ?? throw new CopilotGuardApiException($"CopilotGuard answered {(int)response.StatusCode} with an empty body to {method} /{path}.");
            }
            catch (JsonException exception)
            {
                throw new CopilotGuardApiException($"CopilotGuard answered {(int)response.StatusCode} with a body that is not the expected JSON for {method} /{path}.", exception);
            }
        }
    }

    private static async Task<CopilotGuardApiException> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var retryAfter = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow,
            _ => (TimeSpan?)null,
        };
        ProblemBody? problem = null;
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is "application/problem+json" or "application/json")
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (text.Length <= MaxProblemBodyChars)
            {
                try
                {
                    problem = JsonSerializer.Deserialize(text, CopilotGuardJsonContext.Default.ProblemBody);
                }
                catch (JsonException)
                {
                    // Not a problem document: report the status alone.
                }
            }
        }

        return new CopilotGuardApiException(
            response.StatusCode,
            problem?.Title ?? response.ReasonPhrase,
            problem?.Detail,
            problem?.Type,
            retryAfter);
    }
}
