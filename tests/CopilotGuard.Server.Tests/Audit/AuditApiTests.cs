using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Server.Tests.PostgreSql;

namespace CopilotGuard.Server.Tests.Audit;

public abstract class AuditApiTests(StoreServerFixture server)
{
    [StoreFact]
    public async Task TraceAnswer_AnswersOfSeveralPeople_ListExactlyTheChunksReturnedWithVersionsAndHashes()
    {
        var (danaReceipt, danaChunks) = await server.RetrieveAsync("dana", "asthma follow-up notes", top: 4);
        var (bobFirst, bobFirstChunks) = await server.RetrieveAsync("bob", "POS terminal outage", top: 3);
        var (bobSecond, bobSecondChunks) = await server.RetrieveAsync("bob", "VPN setup", top: 2);
        Assert.NotEmpty(danaChunks);

        var danaAnswer = await RegisterAsync("dana", new { receiptIds = new[] { danaReceipt }, answer = "Use the inhaler as prescribed.", model = "gpt-4o", citedChunkIds = new[] { danaChunks[0].Id } });
        var bobAnswer = await RegisterAsync("bob", new { receiptIds = new[] { bobFirst, bobSecond }, answerSha256 = new string('A', 64) });

        using var danaTrace = await GetJsonAsync("cora", $"/v1/audit/answers/{danaAnswer}");
        using var bobTrace = await GetJsonAsync("cora", $"/v1/audit/answers/{bobAnswer}");

        AssertChunks(danaChunks.Select(c => (c.Id, c.DocumentId, c.Version, c.ContentSha256, c.Label.Name, danaReceipt)), danaTrace.RootElement);
        AssertChunks(
            bobFirstChunks.Select(c => (c.Id, c.DocumentId, c.Version, c.ContentSha256, c.Label.Name, bobFirst))
                .Concat(bobSecondChunks.Select(c => (c.Id, c.DocumentId, c.Version, c.ContentSha256, c.Label.Name, bobSecond))),
            bobTrace.RootElement);
        Assert.Equal("dana", danaTrace.RootElement.GetProperty("principal").GetString());
        Assert.Equal("gpt-4o", danaTrace.RootElement.GetProperty("model").GetString());
        Assert.Equal(Sha256("Use the inhaler as prescribed."), danaTrace.RootElement.GetProperty("answerSha256").GetString());
        Assert.Equal([true, .. Enumerable.Repeat(false, danaChunks.Count - 1)], danaTrace.RootElement.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("cited").GetBoolean()));
        Assert.Equal(new string('a', 64), bobTrace.RootElement.GetProperty("answerSha256").GetString());
        Assert.Equal([bobFirst, bobSecond], bobTrace.RootElement.GetProperty("receipts").EnumerateArray().Select(static r => r.GetProperty("record").GetProperty("recordId").GetString()));

        using var receipt = await GetJsonAsync("cora", $"/v1/audit/receipts/{bobFirst}");
        Assert.Equal([bobAnswer], receipt.RootElement.GetProperty("answers").EnumerateArray().Select(static a => a.GetString()));
    }

    [StoreFact]
    public async Task DocumentAndSubjectAccesses_AfterRetrievals_AreExactlyWhatTheLogHolds()
    {
        var (receipt, chunks) = await server.RetrieveAsync("dana", "patient asthma inhaler", top: 5);
        var chunk = chunks.First(static c => !c.Subjects.IsEmpty);
        var subject = chunk.Subjects[0];
        await server.RetrieveAsync("dana", "patient medication review", top: 5);

        var byDocument = await PagesAsync($"/v1/audit/documents/{chunk.DocumentId}/accesses", limit: 1);
        var bySubject = await PagesAsync($"/v1/audit/subjects/{subject}/accesses", limit: 2);

        var oracle = await ScanLogAsync();
        Assert.Contains(receipt, byDocument);
        Assert.Contains(receipt, bySubject);
        Assert.Equal(oracle.Where(r => r.Chunks.Any(c => c.DocumentId == chunk.DocumentId)).Select(static r => r.RecordId), byDocument);
        Assert.Equal(oracle.Where(r => r.Chunks.Any(c => c.Subjects.Contains(subject))).Select(static r => r.RecordId), bySubject);

        using var report = await GetJsonAsync("cora", $"/v1/audit/subjects/{subject}/accesses?limit=1000");
        var access = report.RootElement.GetProperty("accesses").EnumerateArray().Single(a => a.GetProperty("receiptId").GetString() == receipt);
        Assert.Equal("dana", access.GetProperty("principal").GetString());
        Assert.Equal("internal", access.GetProperty("destination").GetString());
        Assert.All(access.GetProperty("chunks").EnumerateArray(), c => Assert.Contains(subject, c.GetProperty("subjects").EnumerateArray().Select(static s => s.GetString())));
    }

    [StoreTheory]
    [InlineData("/v1/audit/verify")]
    [InlineData("/v1/audit/documents/kb-vpn-setup/accesses")]
    [InlineData("/v1/audit/subjects/p-1004/accesses")]
    [InlineData("/v1/audit/receipts/rcpt_x")]
    [InlineData("/v1/audit/answers/ans_x")]
    public async Task AuditQuery_CallerWithoutComplianceRole_IsForbiddenAndTheAttemptIsAudited(string path)
    {
        using var response = await SendAsync("bob", HttpMethod.Get, path);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var last = (await ScanLogAsync()).Last(static r => r.Kind == AuditRecordKinds.AuditQuery && r.SubjectId == "bob");
        Assert.Equal("denied", last.Decision);
    }

    [StoreFact]
    public async Task AuditQuery_ComplianceOfficer_IsAllowedAndAudited()
    {
        using var response = await SendAsync("cora", HttpMethod.Get, "/v1/audit/verify");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(json.RootElement.GetProperty("ok").GetBoolean(), json.RootElement.ToString());
        Assert.True(json.RootElement.GetProperty("records").GetInt64() > 0);
        var last = (await ScanLogAsync()).Last(static r => r.Kind == AuditRecordKinds.AuditQuery);
        Assert.Equal(("cora", "allowed", "verify"), (last.SubjectId, last.Decision, last.Target));
    }

    [StoreFact]
    public async Task AuditQuery_ComplianceOfficerThroughAnAgent_IsForbidden()
    {
        using var response = await SendAsync("cora", HttpMethod.Get, "/v1/audit/verify", agent: "ticket-agent");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [StoreFact]
    public async Task RegisterAnswer_ReceiptOfAnotherPrincipal_IsNotFoundButComplianceMayBindIt()
    {
        var (bobReceipt, _) = await server.RetrieveAsync("bob", "POS terminal outage", top: 2);

        using var carol = await SendAsync("carol", HttpMethod.Post, "/v1/answers", new { receiptIds = new[] { bobReceipt }, answer = "x" });
        using var unknown = await SendAsync("bob", HttpMethod.Post, "/v1/answers", new { receiptIds = new[] { "rcpt_does_not_exist" }, answer = "x" });
        using var cora = await SendAsync("cora", HttpMethod.Post, "/v1/answers", new { receiptIds = new[] { bobReceipt }, answer = "x" });

        Assert.Equal(HttpStatusCode.NotFound, carol.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Created, cora.StatusCode);
    }

    [StoreTheory]
    [InlineData("""{"receiptIds":[]}""")]
    [InlineData("""{"receiptIds":["RECEIPT"]}""")]
    [InlineData("""{"receiptIds":["RECEIPT"],"answer":"a","answerSha256":"0000000000000000000000000000000000000000000000000000000000000000"}""")]
    [InlineData("""{"receiptIds":["RECEIPT"],"answerSha256":"not-hex"}""")]
    [InlineData("""{"receiptIds":["RECEIPT"],"answer":"a","citedChunkIds":["not-returned#0"]}""")]
    [InlineData("""{"receiptIds":["RECEIPT","RECEIPT"],"answer":"a"}""")]
    [InlineData("""{"receiptIds":["RECEIPT"],"answer":"a","unknownField":1}""")]
    public async Task RegisterAnswer_InvalidBody_IsBadRequest(string body)
    {
        var (receipt, _) = await server.RetrieveAsync("bob", "VPN setup", top: 1);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/answers") { Content = new StringContent(body.Replace("RECEIPT", receipt, StringComparison.Ordinal), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("bob"));

        using var response = await server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [StoreFact]
    public async Task RegisterAnswer_AnswerText_IsNeverStoredOnlyItsHash()
    {
        const string answer = "Zanzibar-7731 is the secret answer text";
        var (receipt, _) = await server.RetrieveAsync("bob", "VPN setup", top: 1);

        var answerId = await RegisterAsync("bob", new { receiptIds = new[] { receipt }, answer });

        var entry = await server.Runtime.Audit.GetAsync(answerId, CancellationToken.None);
        Assert.NotNull(entry);
        Assert.Equal(AuditRecordKinds.Answer, entry.Record.Kind);
        Assert.Equal(Sha256(answer), entry.Record.Answer!.AnswerSha256);
        await foreach (var stored in server.Runtime.Audit.ReadAsync(0, CancellationToken.None))
        {
            Assert.DoesNotContain("Zanzibar", Encoding.UTF8.GetString(stored.Payload.Span), StringComparison.Ordinal);
        }

        Assert.True((await server.Runtime.Audit.VerifyAsync(CancellationToken.None)).Ok);
    }

    [StoreFact]
    public async Task AuditLists_BadPaging_IsBadRequest()
    {
        using var limit = await SendAsync("cora", HttpMethod.Get, "/v1/audit/documents/kb-vpn-setup/accesses?limit=0");
        using var cursor = await SendAsync("cora", HttpMethod.Get, "/v1/audit/documents/kb-vpn-setup/accesses?cursor=abc");

        Assert.Equal(HttpStatusCode.BadRequest, limit.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, cursor.StatusCode);
    }

    private static void AssertChunks(IEnumerable<(string Id, string DocumentId, int Version, string Sha, string Label, string Receipt)> expected, JsonElement trace) =>
        Assert.Equal(
            expected.ToList(),
            trace.GetProperty("chunks").EnumerateArray().Select(static c => (
                c.GetProperty("id").GetString()!,
                c.GetProperty("documentId").GetString()!,
                c.GetProperty("version").GetInt32(),
                c.GetProperty("contentSha256").GetString()!,
                c.GetProperty("label").GetString()!,
                c.GetProperty("receiptId").GetString()!)).ToList());

    private async Task<List<string>> PagesAsync(string path, int limit)
    {
        var ids = new List<string>();
        string? cursor = null;
        do
        {
            using var page = await GetJsonAsync("cora", $"{path}?limit={limit}{(cursor is null ? string.Empty : "&cursor=" + cursor)}");
            ids.AddRange(page.RootElement.GetProperty("accesses").EnumerateArray().Select(static a => a.GetProperty("receiptId").GetString()!));
            cursor = page.RootElement.TryGetProperty("nextCursor", out var next) ? next.GetString() : null;
        }
        while (cursor is not null);
        return ids;
    }

    private async Task<List<AuditRecord>> ScanLogAsync()
    {
        var records = new List<AuditRecord>();
        await foreach (var entry in server.Runtime.Audit.ReadAsync(0, CancellationToken.None))
        {
            records.Add(AuditJson.Deserialize(entry.Payload.Span));
        }

        return records;
    }

    private async Task<string> RegisterAsync(string user, object body)
    {
        using var response = await SendAsync(user, HttpMethod.Post, "/v1/answers", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        using var json = JsonDocument.Parse(text);
        var id = json.RootElement.GetProperty("answerId").GetString()!;
        Assert.Equal($"/v1/audit/answers/{id}", response.Headers.Location?.OriginalString);
        return id;
    }

    private async Task<JsonDocument> GetJsonAsync(string user, string path)
    {
        using var response = await SendAsync(user, HttpMethod.Get, path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text);
    }

    private Task<HttpResponseMessage> SendAsync(string user, HttpMethod method, string path, object? body = null, string? agent = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token(user, agent));
        return server.Client.SendAsync(request);
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Runs these scenarios on the embedded SQLite store and audit log.</summary>
    [Collection(ServerCollection.Name)]
    public sealed class OnSqlite(ServerFixture server) : AuditApiTests(server);

    /// <summary>Runs these scenarios with the store and audit log in PostgreSQL.</summary>
    [Collection(PostgreSqlServerCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServerFixture server) : AuditApiTests(server);
}
