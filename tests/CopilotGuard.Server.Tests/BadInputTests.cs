using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace CopilotGuard.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class BadInputTests(ServerFixture server)
{
    [Theory]
    [InlineData("""{"query": ""}""", "must not be empty")]
    [InlineData("""{"query": "x", "top": 0}""", "top must be between")]
    [InlineData("""{"query": "x", "top": 100000}""", "top must be between")]
    [InlineData("""{"query": "x", "tpo": 3}""", "tpo")]
    [InlineData("""{"query": 42}""", "query")]
    [InlineData("""{"query": "x" """, "not valid")]
    [InlineData("""[1,2,3]""", "not valid")]
    public async Task Retrieve_BadBody_Is400NamingTheProblem(string body, string expected)
    {
        using var response = await SendAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains(expected, text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retrieve_OversizedQuery_Is400()
    {
        using var response = await SendAsync(JsonSerializer.Serialize(new { query = new string('a', 5000) }));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("limit is 4096", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retrieve_BadInput_WritesExactlyOneRefusalRecord()
    {
        var before = (await server.Runtime.Audit.VerifyAsync(CancellationToken.None)).Records;
        using var response = await SendAsync("""{"query": ""}""");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var after = await server.Runtime.Audit.VerifyAsync(CancellationToken.None);
        Assert.True(after.Ok);
        Assert.Equal(before + 1, after.Records);
    }

    private Task<HttpResponseMessage> SendAsync(string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("carol"));
        return server.Client.SendAsync(request);
    }
}
