using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Audit;
using Json.Schema;

namespace CopilotGuard.Server.Tests.Audit;

[Collection(ServerCollection.Name)]
public sealed class AuditRecordSchemaTests(ServerFixture server)
{
    private static readonly Lazy<JsonSchema> Schema = new(static () => JsonSchema.FromFile(FindSchema()));

    [Fact]
    public async Task Schema_EveryRecordKindInTheLog_Validates()
    {
        var (receipt, _) = await server.RetrieveAsync("dana", "asthma notes", top: 3);
        using (var answer = await PostAsync("dana", "/v1/answers", new { receiptIds = new[] { receipt }, answer = "ok", model = "m", citedChunkIds = Array.Empty<string>() }))
        {
            answer.EnsureSuccessStatusCode();
        }

        using (var query = await PostAsync("cora", "/v1/policy/explain", new { chunkId = "kb-vpn-setup#0" }))
        {
            query.EnsureSuccessStatusCode();
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/audit/verify"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("cora"));
            using var verify = await server.Client.SendAsync(request);
            Assert.True(verify.IsSuccessStatusCode, await verify.Content.ReadAsStringAsync());
        }

        var schema = Schema.Value;
        var options = new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true };
        var kinds = new HashSet<string>();
        await foreach (var entry in server.Runtime.Audit.ReadAsync(0, CancellationToken.None))
        {
            using var json = JsonDocument.Parse(entry.Payload);
            var result = schema.Evaluate(json.RootElement, options);
            Assert.True(result.IsValid, $"entry {entry.Sequence}: {JsonSerializer.Serialize((result.Details ?? []).Where(static d => d.Errors is { Count: > 0 }).Select(static d => new { path = d.InstanceLocation.ToString(), errors = d.Errors }))}");
            kinds.Add(json.RootElement.GetProperty("kind").GetString()!);
        }

        Assert.Superset(new HashSet<string> { AuditRecordKinds.Retrieval, AuditRecordKinds.Answer, AuditRecordKinds.AuditQuery, AuditRecordKinds.PolicyExplain }, kinds);
    }

    [Fact]
    public void Schema_RecordWithChunkText_IsRejected()
    {
        var schema = Schema.Value;
        using var json = JsonDocument.Parse("""
            {"recordId":"r","kind":"retrieval","time":"2025-01-01T00:00:00Z","subjectId":"bob","policyVersion":"v","policyHash":"h","decision":"all",
             "chunks":[{"chunkId":"c","documentId":"d","version":1,"contentSha256":"0000000000000000000000000000000000000000000000000000000000000000","label":"General","score":1,"text":"leaked"}]}
            """);

        Assert.False(schema.Evaluate(json.RootElement).IsValid);
    }

    private static string FindSchema()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "schemas", "audit-record.schema.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("schemas/audit-record.schema.json was not found above the test folder.");
    }

    private Task<HttpResponseMessage> PostAsync(string user, string path, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token(user));
        return server.Client.SendAsync(request);
    }
}
