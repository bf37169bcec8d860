using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CopilotGuard.Hosting;

namespace CopilotGuard.Server.Tests.Hardening;

/// <summary>Issue 16, items 1, 3 and 5: every caller-supplied string has one documented limit enforced at the edge
/// with a 400 naming the field and the limit; bodies are capped per route; query parameters are validated; problem
/// details never name .NET types and never echo more than a short escaped prefix.</summary>
[Collection(ServerCollection.Name)]
public sealed class InputLimitsTests(ServerFixture server)
{
    private readonly AuditProbe _audit = new(server);

    public static TheoryData<string, string, string, string> FieldOverLimit => new()
    {
        // route, path, field, body template ({0} is the oversized value)
        { "POST", "/v1/retrieve", "query", """{"query":{0}}""" },
        { "POST", "/v1/retrieve", "purpose", """{"query":"vpn","purpose":{0}}""" },
        { "POST", "/v1/retrieve", "destination", """{"query":"vpn","destination":{0}}""" },
        { "POST", "/v1/retrieve", "conversationId", """{"query":"vpn","conversationId":{0}}""" },
        { "POST", "/v1/retrieve", "mode", """{"query":"vpn","mode":{0}}""" },
        { "POST", "/v1/policy/explain", "purpose", """{"chunkId":"kb-vpn-setup#0","purpose":{0}}""" },
        { "POST", "/v1/policy/explain", "destination", """{"chunkId":"kb-vpn-setup#0","destination":{0}}""" },
        { "POST", "/v1/policy/explain", "user", """{"chunkId":"kb-vpn-setup#0","user":{0}}""" },
        { "POST", "/v1/policy/explain", "agent", """{"chunkId":"kb-vpn-setup#0","user":"bob","agent":{0}}""" },
        { "POST", "/v1/policy/explain", "chunkId", """{"chunkId":{0}}""" },
        { "POST", "/v1/deanonymize", "conversationId", """{"conversationId":{0},"text":"x"}""" },
        { "POST", "/v1/deanonymize", "text", """{"conversationId":"c1","text":{0}}""" },
        { "POST", "/v1/answers", "answer", """{"receiptIds":["rcpt_x"],"answer":{0}}""" },
        { "POST", "/v1/answers", "model", """{"receiptIds":["rcpt_x"],"answer":"a","model":{0}}""" },
        { "POST", "/v1/answers", "receiptIds", """{"receiptIds":[{0}],"answer":"a"}""" },
        { "POST", "/v1/answers", "citedChunkIds", """{"receiptIds":["rcpt_x"],"answer":"a","citedChunkIds":[{0}]}""" },
        { "PUT", "/v1/documents/mkt-case-study-fabrikam/label", "label", """{"label":{0}}""" },
        { "POST", "/v1/admin/principals/frank/suspend", "reason", """{"reason":{0}}""" },
    };

    [Theory]
    [MemberData(nameof(FieldOverLimit))]
    public async Task FieldOverItsLimit_Is400NamingFieldAndLimit_AndLeavesOneSmallRecord(string method, string path, string field, string template)
    {
        var limit = InputLimits.Fields[field].MaxLength;
        var body = template.Replace("{0}", JsonSerializer.Serialize(new string('x', limit + 1)), StringComparison.Ordinal);
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(new HttpMethod(method), path, server.Token("sam"), body));

        Assert.Equal(400, status);
        using var problem = JsonDocument.Parse(text);
        Assert.Equal(field, problem.RootElement.GetProperty("field").GetString());
        Assert.Contains(field, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains(limit.ToString(System.Globalization.CultureInfo.InvariantCulture), problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", text, StringComparison.Ordinal);
        var record = Assert.Single(records);
        Assert.Equal("refused", record.Record.Kind);
        Assert.Equal("invalid", record.Record.Decision);
        Assert.True(record.Bytes < 2048, $"{record.Bytes} bytes");
    }

    [Fact]
    public async Task Explain_HugePurposeThreeTimes_GrowsTheLogByThreeSmallRecords()
    {
        var mark = await _audit.MarkAsync();
        for (var i = 0; i < 3; i++)
        {
            var body = JsonSerializer.Serialize(new { chunkId = "kb-vpn-setup#0", purpose = new string('p', 5_000_000), destination = new string('d', 5_000_000) });
            using var request = AuditProbe.Request(HttpMethod.Post, "/v1/policy/explain", server.Token("carol"), body);

            // The client waits for the server's go-ahead, so the refusal arrives before 10 MB are sent for nothing.
            request.Headers.ExpectContinue = true;
            using var response = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Contains($"limit of {InputLimits.BodyBytes["ExplainPolicy"]} bytes", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var records = await _audit.SinceAsync(mark);
        Assert.Equal(3, records.Count);
        Assert.All(records, static r => Assert.Equal("too-large", r.Record.Decision));
        Assert.True(records.Sum(static r => r.Bytes) < 3 * 2048);
    }

    [Fact]
    public async Task ChunkedBodyOverTheRouteLimit_Is413()
    {
        var payload = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { query = "vpn", purpose = new string('p', 100_000) }));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = new StreamContent(new NoLengthStream(payload)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("carol"));
        request.Headers.TransferEncodingChunked = true;
        var (status, text, records) = await _audit.SendAsync(request);
        Assert.Equal(413, status);
        Assert.True(text.Contains("32768 bytes", StringComparison.Ordinal), text);
        Assert.Single(records);
    }

    [Theory]
    [InlineData("purpose", "a\u0000b")]
    [InlineData("destination", "internal\u001b[31m")]
    [InlineData("conversationId", "c\u007f")]
    public async Task ControlCharactersAndLoneSurrogates_Are400(string field, string value)
    {
        var body = $$"""{"query":"vpn","{{field}}":{{JsonSerializer.Serialize(value)}}}""";
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Post, "/v1/retrieve", server.Token("carol"), body));
        Assert.Equal(400, status);
        Assert.Contains(field, text, StringComparison.Ordinal);
        Assert.Single(records);
    }

    [Theory]
    [InlineData("/v1/console/activity?to=0001-01-01T00:00:00Z", "to")]
    [InlineData("/v1/console/activity?from=9999-12-31T23:59:59Z", "from")]
    [InlineData("/v1/console/activity?from=yesterday", "from")]
    [InlineData("/v1/console/events?to=0001-01-01T00:00:00Z", "to")]
    [InlineData("/v1/console/accesses?document=x&from=0001-01-01T00:00:00Z", "from")]
    [InlineData("/v1/console/accesses.csv?subject=x&to=0001-01-01T00:00:00Z", "to")]
    [InlineData("/v1/console/events?limit=0", "limit")]
    [InlineData("/v1/console/events?limit=abc", "limit")]
    [InlineData("/v1/console/events?limit=99999999999999", "limit")]
    [InlineData("/v1/console/events?cursor=-1", "cursor")]
    [InlineData("/v1/console/events?cursor=99999999999999999999", "cursor")]
    [InlineData("/v1/console/documents?limit=5&limit=6", "limit")]
    [InlineData("/v1/console/documents?sort=title", "sort")]
    [InlineData("/v1/audit/documents/x/accesses?limit=100000", "limit")]
    [InlineData("/v1/console/activity?bucket=fortnightfortnightfortnight", "bucket")]
    public async Task BadQueryParameter_Is400NamingIt_NotAServerError(string path, string field)
    {
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Get, path, server.Token("cora")));
        Assert.Equal(400, status);
        Assert.Contains(field, text, StringComparison.Ordinal);
        Assert.Single(records);
    }

    [Fact]
    public async Task Activity_YearOne_FromAnUnauthorizedCaller_Is400AndRecorded()
    {
        var (status, _, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Get, "/v1/console/activity?to=0001-01-01T00:00:00Z", server.Token("carol")));
        Assert.Equal(400, status);
        Assert.Equal("carol", Assert.Single(records).Record.SubjectId);
    }

    [Fact]
    public async Task RouteValueOverItsLimit_Is400NamingIt()
    {
        var (status, text, _) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Put, $"/v1/documents/{new string('d', 600)}/label", server.Token("carol"), """{"label":"Public"}"""));
        Assert.Equal(400, status);
        Assert.Contains("documentId", text, StringComparison.Ordinal);
        Assert.Contains("512", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST", "/v1/retrieve", null)]
    [InlineData("POST", "/v1/retrieve", """{"query": 42}""")]
    [InlineData("POST", "/v1/retrieve", """{"query": "x", "top": 1e308}""")]
    [InlineData("POST", "/v1/retrieve", """[1,2,3]""")]
    [InlineData("POST", "/v1/retrieve", """{"query": "x" """)]
    [InlineData("POST", "/v1/policy/explain", """{"chunkId": ["a","b"]}""")]
    [InlineData("POST", "/v1/answers", """{"receiptIds": "rcpt_x"}""")]
    [InlineData("PUT", "/v1/documents/x/label", null)]
    public async Task BadBody_ProblemNamesNoTypeAndNoFrameworkAdvice(string method, string path, string? body)
    {
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(new HttpMethod(method), path, server.Token("carol"), body));
        Assert.Equal(400, status);
        Assert.DoesNotContain("CopilotGuard.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Did you mean", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.Single(records);
    }

    [Fact]
    public async Task Forbidden_EchoesAtMostAShortEscapedPrefix()
    {
        // A security admin may explain others' views; the unknown principal's id comes back, but only as a prefix.
        var user = "ghost-" + new string('g', 240) + "\u0007";
        var body = JsonSerializer.Serialize(new { chunkId = "kb-vpn-setup#0", user = user[..^1] });
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Post, "/v1/policy/explain", server.Token("sam"), body));
        Assert.Equal(403, status);
        Assert.True(text.Length < 1024, text);
        Assert.DoesNotContain(new string('g', ProblemText.MaxQuoted), text, StringComparison.Ordinal);
        Assert.Single(records);
    }

    [Fact]
    public void Sanitize_QuotesShortEscapedPrefixes_AndRemovesTypeNames()
    {
        var detail = ProblemText.Sanitize($"Principal '{new string('a', 500)}\u0000' is not in the directory; converting to CopilotGuard.Hosting.Retrieval.RetrieveRequest failed.");
        Assert.DoesNotContain(new string('a', ProblemText.MaxQuoted + 1), detail, StringComparison.Ordinal);
        Assert.DoesNotContain("\u0000", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("RetrieveRequest", detail, StringComparison.Ordinal);
        Assert.Contains("…'", detail, StringComparison.Ordinal);
        Assert.True(ProblemText.Sanitize(new string('b', 10_000)).Length <= ProblemText.MaxDetail + 1);
    }

    /// <summary>A stream whose length is unknown, so the client sends it chunked.</summary>
    private sealed class NoLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
