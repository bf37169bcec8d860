using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Audit;

namespace CopilotGuard.Server.Tests.Hardening;

/// <summary>Issue 16, item 6: every authenticated request that is refused or fails leaves exactly one audit record with
/// the reason, on every route (enumerated from /openapi/v1.json so a new route cannot forget it).</summary>
[Collection(ServerCollection.Name)]
public sealed class RefusalRecordTests(ServerFixture server)
{
    private readonly AuditProbe _audit = new(server);

    [Fact]
    public async Task EveryRoute_RefusedForAnUnknownPrincipal_LeavesExactlyOneRecordNamingIt()
    {
        var operations = await OpenApiRoute.ReadAsync(server.Client);
        Assert.True(operations.Count >= 20, $"only {operations.Count} operations in the OpenAPI document");
        var failures = new List<string>();
        foreach (var (operation, index) in operations.Select((o, i) => (o, i)))
        {
            if (OpenApiRoute.Anonymous.Contains(operation.Path))
            {
                continue;
            }

            var subject = $"ghost-{index}";
            using var request = AuditProbe.Request(operation.Method, operation.Fill("x"), server.Token(subject), operation.HasBody ? "{}" : null);
            var (status, body, records) = await _audit.SendAsync(request);
            if (status < 400)
            {
                failures.Add($"{operation}: {status} for an unknown principal");
                continue;
            }

            if (records.Count != 1 || records[0].Record.SubjectId != subject || !records[0].Record.Target!.Contains("operation:" + operation.Name, StringComparison.Ordinal))
            {
                failures.Add($"{operation}: {status}, {records.Count} records ({string.Join("; ", records.Select(static r => r.Record.Kind + " " + r.Record.Target))}); {body}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task TokenNamingAnUnknownPrincipal_IsRecorded()
    {
        var record = await SingleRefusalAsync(HttpMethod.Post, "/v1/retrieve", server.Token("nobody-at-all"), """{"query":"vpn"}""", 403);
        Assert.Equal("nobody-at-all", record.SubjectId);
        Assert.Equal("forbidden", record.Decision);
        Assert.Contains("not in the directory", record.Target, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenNamingAnUnregisteredAgent_IsRecorded()
    {
        var record = await SingleRefusalAsync(HttpMethod.Post, "/v1/retrieve", server.Token("carol", "rogue-agent"), """{"query":"vpn"}""", 403);
        Assert.Equal(("carol", "rogue-agent"), (record.SubjectId, record.ActorId));
        Assert.Contains("not a registered agent", record.Target, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExplainOfAnothersView_WithoutTheRole_IsRecorded()
    {
        var record = await SingleRefusalAsync(HttpMethod.Post, "/v1/policy/explain", server.Token("carol"), """{"chunkId":"kb-vpn-setup#0","user":"bob"}""", 403);
        Assert.Contains("operation:ExplainPolicy", record.Target, StringComparison.Ordinal);
        Assert.Contains("another principal", record.Target, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bob", null)]
    [InlineData("carol", "ticket-agent")]
    public async Task RelabelByANonOwnerOrThroughAnAgent_IsRecorded(string user, string? agent)
    {
        var record = await SingleRefusalAsync(HttpMethod.Put, "/v1/documents/mkt-case-study-fabrikam/label", server.Token(user, agent), """{"label":"Confidential"}""", agent is null ? 404 : 403);
        Assert.Contains("operation:SetDocumentLabel", record.Target, StringComparison.Ordinal);
        Assert.Equal(agent, record.ActorId);
    }

    [Fact]
    public async Task BindingAnotherUsersReceipt_IsRecorded()
    {
        var (receipt, _) = await server.RetrieveAsync("bob", "POS terminals offline");
        var record = await SingleRefusalAsync(HttpMethod.Post, "/v1/answers", server.Token("carol"), JsonSerializer.Serialize(new { receiptIds = new[] { receipt }, answer = "an answer" }), 404);
        Assert.Equal("carol", record.SubjectId);
        Assert.Contains("operation:RegisterAnswer", record.Target, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("carol", null)]
    [InlineData("sam", "ticket-agent")]
    public async Task AdminCallByANonAdminOrAnAgent_IsRecorded(string user, string? agent)
    {
        var record = await SingleRefusalAsync(HttpMethod.Post, "/v1/admin/principals/frank/suspend", server.Token(user, agent), null, 403);
        Assert.Contains("operation:SuspendPrincipal", record.Target, StringComparison.Ordinal);
        Assert.Null(await server.Runtime.Verification.State.GetSuspensionAsync("frank", CancellationToken.None));
    }

    [Fact]
    public async Task AuditAndConsoleQueries_ByASuspendedPrincipal_AreRecorded()
    {
        using (var suspend = await SendAsAsync("sam", HttpMethod.Post, "/v1/admin/principals/cora/suspend", """{"reason":"hardening test"}"""))
        {
            Assert.True(suspend.IsSuccessStatusCode, await suspend.Content.ReadAsStringAsync());
        }

        try
        {
            foreach (var path in new[] { "/v1/audit/verify", "/v1/console/integrity", "/v1/console/activity" })
            {
                // Issue 17: audit and console queries take the guarded path, which records the gate's refusal itself
                // (so the refusal gate adds none), stamped with the tenant like every record.
                var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Get, path, server.Token("cora")));
                Assert.True(status == 403, $"{status}: {text}");
                var record = Assert.Single(records).Record;
                Assert.Equal(("refused", "forbidden", "cora"), (record.Kind, record.Decision, record.SubjectId));
                Assert.Equal(("operation:audit-query gate:SuspensionGate", server.Runtime.Broker.Tenant), (record.Target, record.Tenant));
            }
        }
        finally
        {
            using var resume = await SendAsAsync("sam", HttpMethod.Post, "/v1/admin/principals/cora/resume", null);
            Assert.True(resume.IsSuccessStatusCode);
        }
    }

    [Fact]
    public async Task RefusalTheOperationRecordsItself_IsNotRecordedTwice()
    {
        // A denied audit query writes its own audit-query record; the gate adds none.
        var (status, _, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Get, "/v1/audit/verify", server.Token("carol")));
        Assert.Equal(403, status);
        var record = Assert.Single(records).Record;
        Assert.Equal((AuditRecordKinds.AuditQuery, "denied"), (record.Kind, record.Decision));
    }

    [Fact]
    public async Task UnauthenticatedRequests_WriteNothing()
    {
        var (status, _, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Post, "/v1/retrieve", "not-a-token", """{"query":"vpn"}"""));
        Assert.Equal(401, status);
        Assert.Empty(records);
    }

    [Fact]
    public async Task ActClaimArray_Is401AndRecorded_NotTruncatedToTheFirstAgent()
    {
        var token = server.Runtime.Issuer.CreateTokenWithClaims(new Dictionary<string, object>
        {
            ["sub"] = "carol",
            ["act"] = new object[] { new Dictionary<string, object> { ["sub"] = "ticket-agent" }, new Dictionary<string, object> { ["sub"] = "other-agent" } },
        });
        var (status, _, records) = await _audit.SendAsync(AuditProbe.Request(HttpMethod.Post, "/v1/retrieve", token, """{"query":"vpn","destination":"internal"}"""));
        Assert.Equal(401, status);
        var record = Assert.Single(records).Record;
        Assert.Equal(("carol", "(several actors)", "unauthorized"), (record.SubjectId, record.ActorId, record.Decision));
    }

    private async Task<AuditRecord> SingleRefusalAsync(HttpMethod method, string path, string token, string? body, int expected)
    {
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(method, path, token, body));
        Assert.True(status == expected, $"{status}: {text}");
        var record = Assert.Single(records).Record;
        Assert.Contains($"status:{expected}", record.Target, StringComparison.Ordinal);
        return record;
    }

    private Task<HttpResponseMessage> SendAsAsync(string user, HttpMethod method, string path, string? body) =>
        server.Client.SendAsync(AuditProbe.Request(method, path, server.Token(user), body));
}

/// <summary>The operations of /openapi/v1.json.</summary>
internal sealed record OpenApiRoute(HttpMethod Method, string Path, string Name, bool HasBody, IReadOnlyList<string> QueryParameters)
{
    public static async Task<List<OpenApiRoute>> ReadAsync(HttpClient client)
    {
        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        var routes = new List<OpenApiRoute>();
        foreach (var path in document.RootElement.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                var query = operation.Value.TryGetProperty("parameters", out var parameters)
                    ? parameters.EnumerateArray().Where(static p => p.GetProperty("in").GetString() == "query").Select(static p => p.GetProperty("name").GetString()!).ToList()
                    : [];
                routes.Add(new OpenApiRoute(
                    new HttpMethod(operation.Name.ToUpperInvariant()),
                    path.Name,
                    operation.Value.TryGetProperty("operationId", out var id) ? id.GetString()! : path.Name,
                    operation.Value.TryGetProperty("requestBody", out _),
                    query));
            }
        }

        return routes;
    }

    /// <summary>The routes anyone may call (liveness); every other route needs a token.</summary>
    public static readonly IReadOnlySet<string> Anonymous = new HashSet<string>(["/healthz"], StringComparer.Ordinal);

    /// <summary>The path with every route value replaced.</summary>
    public string Fill(string value) => System.Text.RegularExpressions.Regex.Replace(Path, "{[^}]+}", Uri.EscapeDataString(value));

    public override string ToString() => $"{Method} {Path} ({Name})";
}
