using System.Net;
using System.Text.Json;
using CopilotGuard.Identity;
using CopilotGuard.Hosting.Identity;

namespace CopilotGuard.Server.Tests.Identity;

[Collection(IdentityServerCollection.Name)]
public sealed class ContinuousVerificationHttpTests(IdentityServerFixture server)
{
    [Fact]
    public async Task Suspend_TicketAgent_StopsItOnTheNextRequestEvenActingForAUser()
    {
        using (var before = await server.RetrieveAsync("bob", "ticket-agent"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        using var suspend = await server.PostAsync("/v1/admin/principals/ticket-agent/suspend", server.Token("sam"), new { reason = "prompt injection under investigation" });
        var body = await ReadAsync(suspend, HttpStatusCode.OK);
        var receipt = body.GetProperty("receiptId").GetString()!;

        using (var refused = await server.RetrieveAsync("bob", "ticket-agent"))
        {
            var problem = await ReadAsync(refused, HttpStatusCode.Forbidden);
            Assert.Contains("ticket-agent' is suspended", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Contains("prompt injection under investigation", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var bobAlone = await server.RetrieveAsync("bob"))
        {
            Assert.Equal(HttpStatusCode.OK, bobAlone.StatusCode);
        }

        var record = (await server.Runtime.Audit.GetAsync(receipt, CancellationToken.None))!.Record;
        Assert.Equal((KillSwitch.SuspendKind, "sam", "principal:ticket-agent"), (record.Kind, record.SubjectId, record.Target));

        using var resume = await server.PostAsync("/v1/admin/principals/ticket-agent/resume", server.Token("sam"));
        var resumed = await ReadAsync(resume, HttpStatusCode.OK);
        Assert.Equal(KillSwitch.ResumeKind, (await server.Runtime.Audit.GetAsync(resumed.GetProperty("receiptId").GetString()!, CancellationToken.None))!.Record.Kind);
        using var after = await server.RetrieveAsync("carol", "ticket-agent");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Suspension_WrittenByAnotherInstance_AppliesToTheNextRequest()
    {
        // Another instance sharing the data folder writes to the same store; this instance caches nothing.
        using var otherInstance = new SqlitePrincipalStateStore(Path.Combine(server.DataPath, ContinuousVerification.StateFileName));
        using (var before = await server.RetrieveAsync("dana"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await otherInstance.SuspendAsync(new PrincipalSuspension("dana", "lost laptop", "sam", DateTimeOffset.UtcNow), CancellationToken.None);
        using (var refused = await server.RetrieveAsync("dana"))
        {
            Assert.Contains("lost laptop", (await ReadAsync(refused, HttpStatusCode.Forbidden)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        await otherInstance.ResumeAsync("dana", CancellationToken.None);
        using var after = await server.RetrieveAsync("dana");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Theory]
    [InlineData("carol", null, "security-admin")]
    [InlineData("sam", "ticket-agent", "not an agent")]
    public async Task Suspend_CallerNotADirectSecurityAdmin_Is403(string user, string? agent, string reason)
    {
        using var response = await server.PostAsync("/v1/admin/principals/bob/suspend", server.Token(user, agent), new { reason = "x" });
        var problem = await ReadAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Null(await server.Runtime.Verification.State.GetSuspensionAsync("bob", CancellationToken.None));
    }

    [Fact]
    public async Task Suspend_WithoutToken_Is401()
    {
        using var response = await server.Client.PostAsync(new Uri("/v1/admin/principals/bob/suspend", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Retrieve_UnregisteredAgent_GetsNothing()
    {
        using var delegated = await server.RetrieveAsync("bob", "rogue-agent");
        Assert.Contains("not a registered agent", (await ReadAsync(delegated, HttpStatusCode.Forbidden)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var alone = await server.RetrieveAsync("rogue-agent");
        Assert.Equal(HttpStatusCode.Forbidden, alone.StatusCode);
    }

    [Theory]
    [InlineData("ticket-resolution", null, "destination 'external'")]
    [InlineData("payroll-review", "internal", "purpose 'payroll-review'")]
    public async Task Retrieve_RegisteredAgentOutsideItsCapabilities_Is403(string purpose, string? destination, string reason)
    {
        using var response = await server.RetrieveAsync("bob", "ticket-agent", purpose: purpose, destination: destination);
        Assert.Contains(reason, (await ReadAsync(response, HttpStatusCode.Forbidden)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retrieve_DelegatedWithinCapabilities_ReturnsOnlyTheIntersectionAndAuditsBoth()
    {
        using var response = await server.RetrieveAsync("bob", "ticket-agent", query: "refund approval thresholds and escalation runbook", purpose: "ticket-resolution", top: 8);
        var body = await ReadAsync(response, HttpStatusCode.OK);

        var chunks = body.GetProperty("chunks").EnumerateArray().ToList();
        Assert.NotEmpty(chunks);
        Assert.All(chunks, static c => Assert.Equal("kb", c.GetProperty("source").GetString()));
        var record = (await server.Runtime.Audit.GetAsync(body.GetProperty("receiptId").GetString()!, CancellationToken.None))!.Record;
        Assert.Equal(("bob", "ticket-agent", "ticket-resolution"), (record.SubjectId, record.ActorId, record.Purpose));
    }

    [Fact]
    public async Task Retrieve_OverThePrincipalsRequestLimit_Is429WithRetryAfter()
    {
        for (var i = 0; i < 3; i++)
        {
            using var allowed = await server.RetrieveAsync("frank", top: 1);
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        using var limited = await server.RetrieveAsync("frank", top: 1);

        var problem = await ReadAsync(limited, (HttpStatusCode)429);
        Assert.Contains("'frank' reached its limit of 3 requests", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        using var someoneElse = await server.RetrieveAsync("carol", top: 1);
        Assert.Equal(HttpStatusCode.OK, someoneElse.StatusCode);
    }

    [Fact]
    public async Task Retrieve_SuddenPullOfHighlyConfidentialChunks_SuspendsThePrincipal()
    {
        // A couple of small, ordinary requests first: nothing happens.
        for (var i = 0; i < 2; i++)
        {
            using var ordinary = await server.RetrieveAsync("paul", query: "parental leave", top: 2);
            Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);
        }

        // Then paul pulls every payroll row at once.
        using var pull = await server.RetrieveAsync("paul", query: "employee salary ssn payroll records", top: 50);
        var pulled = await ReadAsync(pull, HttpStatusCode.OK);
        Assert.True(pulled.GetProperty("chunks").EnumerateArray().Count(static c => c.GetProperty("label").GetString() == "Highly Confidential") >= 20);

        using var next = await server.RetrieveAsync("paul", query: "parental leave", top: 2);
        var problem = await ReadAsync(next, HttpStatusCode.Forbidden);
        Assert.Contains("automatic suspension after a high anomaly", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var list = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/admin/principals/suspended", UriKind.Relative));
        list.Headers.Authorization = new("Bearer", server.Token("sam"));
        using var listed = await server.Client.SendAsync(list);
        var suspensions = await ReadAsync(listed, HttpStatusCode.OK);
        Assert.Contains(suspensions.EnumerateArray(), static s => s.GetProperty("principalId").GetString() == "paul" && s.GetProperty("by").GetString() == AnomalyResponder.SystemActor);
        Assert.True((await server.Runtime.Audit.VerifyAsync(CancellationToken.None)).Ok);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
