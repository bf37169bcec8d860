using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace CopilotGuard.Server.Tests;

/// <summary>The optional <c>mode</c> of <c>POST /v1/retrieve</c> over HTTP, against the embedded SQLite store
/// (vector only): unsupported and unknown modes are 400 problems that release no data and, like every other refused
/// request, leave exactly one refusal record (and no receipt).</summary>
[Collection(ServerCollection.Name)]
public sealed class RetrievalModeTests(ServerFixture server)
{
    [Theory]
    [InlineData("keyword")]
    [InlineData("hybrid")]
    public async Task Retrieve_ModeTheSqliteStoreDoesNotSupport_Is400NamingModeAndStore_AndReleasesNothing(string mode)
    {
        Assert.Equal("sqlite", server.Runtime.Store.Name);
        var before = await AuditRecordsAsync();

        using var response = await SendAsync(JsonSerializer.Serialize(new { query = "vpn setup", mode, destination = "internal" }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal($"mode '{mode}' is not supported by the sqlite store, which supports: vector.", problem.RootElement.GetProperty("detail").GetString());
        Assert.False(problem.RootElement.TryGetProperty("chunks", out _));
        Assert.False(problem.RootElement.TryGetProperty("receiptId", out _));
        Assert.Equal(before + 1, await AuditRecordsAsync());
    }

    [Theory]
    [InlineData("""{"query": "vpn setup", "mode": "semantic"}""", "mode must be one of: vector, keyword, hybrid.")]
    [InlineData("""{"query": "vpn setup", "mode": "Keyword"}""", "mode must be one of: vector, keyword, hybrid.")]
    [InlineData("""{"query": "vpn setup", "mode": ""}""", "mode must be one of: vector, keyword, hybrid.")]
    [InlineData("""{"query": "vpn setup", "mode": 1}""", "field 'mode'")]
    [InlineData("""{"query": "vpn setup", "mode": ["keyword"]}""", "field 'mode'")]
    public async Task Retrieve_UnknownMode_Is400NamingMode_AndReleasesNothing(string body, string expected)
    {
        var before = await AuditRecordsAsync();

        using var response = await SendAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"chunks\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.Equal(before + 1, await AuditRecordsAsync());
    }

    [Fact]
    public async Task Retrieve_ExplicitVectorMode_IsTheDefault_AndItsRecordHasNoMode()
    {
        using var implicitMode = await SendAsync("""{"query": "vpn setup", "top": 3, "destination": "internal"}""");
        using var explicitMode = await SendAsync("""{"query": "vpn setup", "top": 3, "destination": "internal", "mode": "vector"}""");

        Assert.Equal(HttpStatusCode.OK, implicitMode.StatusCode);
        Assert.Equal(HttpStatusCode.OK, explicitMode.StatusCode);
        using var first = JsonDocument.Parse(await implicitMode.Content.ReadAsStringAsync());
        using var second = JsonDocument.Parse(await explicitMode.Content.ReadAsStringAsync());
        Assert.NotEmpty(Ids(first));
        Assert.Equal(Ids(first), Ids(second));
        var receipt = second.RootElement.GetProperty("receiptId").GetString();
        await foreach (var entry in server.Runtime.Audit.ReadAsync(0, CancellationToken.None))
        {
            if (entry.RecordId == receipt)
            {
                Assert.Null(CopilotGuard.Audit.AuditJson.Deserialize(entry.Payload.Span).Mode);
                Assert.DoesNotContain("\"mode\"", Encoding.UTF8.GetString(entry.Payload.Span), StringComparison.Ordinal);
                return;
            }
        }

        Assert.Fail($"No audit record {receipt}.");
    }

    private static List<string> Ids(JsonDocument response) =>
        [.. response.RootElement.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("id").GetString()!)];

    private async Task<long> AuditRecordsAsync() => (await server.Runtime.Audit.VerifyAsync(CancellationToken.None)).Records;

    private Task<HttpResponseMessage> SendAsync(string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("bob"));
        return server.Client.SendAsync(request);
    }
}
