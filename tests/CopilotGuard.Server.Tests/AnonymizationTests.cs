using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using CopilotGuard.Server.Tests.PostgreSql;

namespace CopilotGuard.Server.Tests;

/// <summary>Anonymization on the way out, and de-anonymization only where the policy allows, over HTTP.</summary>
public abstract partial class AnonymizationTests(StoreServerFixture server)
{
    [StoreFact]
    public async Task ExternalDestination_PseudonymizesNamesConsistently_AndTheOwnerCanRestoreThem()
    {
        var conversation = "conv-" + Guid.NewGuid().ToString("N");
        var first = await RetrieveTextsAsync("carol", "spring campaign plan owner and timeline", conversation, "external-llm");
        var second = await RetrieveTextsAsync("carol", "spring campaign plan owner and timeline", conversation, "external-llm");
        var joined = string.Join("\n", first);
        var placeholders = Placeholder().Matches(joined).Select(static m => m.Value).Distinct().ToList();
        Assert.NotEmpty(placeholders);
        Assert.Equal(first, second);
        Assert.DoesNotMatch(@"[\w.+-]+@[\w-]+\.example", joined);

        Assert.DoesNotContain("Carol Smith", joined, StringComparison.Ordinal);
        using var restored = await DeanonymizeAsync(server.Token("carol"), conversation, string.Join(" ", placeholders));
        Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        using var body = JsonDocument.Parse(await restored.Content.ReadAsStringAsync());
        Assert.Equal(placeholders.Count, body.RootElement.GetProperty("restored").GetInt32());
        Assert.DoesNotMatch(Placeholder(), body.RootElement.GetProperty("text").GetString()!);
    }

    [StoreFact]
    public async Task Deanonymize_AnotherCallersConversation_RestoresNothing()
    {
        var conversation = "conv-" + Guid.NewGuid().ToString("N");
        var texts = await RetrieveTextsAsync("carol", "spring campaign plan owner and timeline", conversation, "external-llm");
        var placeholder = Placeholder().Match(string.Join("\n", texts)).Value;
        Assert.NotEmpty(placeholder);

        using var response = await DeanonymizeAsync(server.Token("bob"), conversation, placeholder);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(0, body.RootElement.GetProperty("restored").GetInt32());
        Assert.Equal(placeholder, body.RootElement.GetProperty("text").GetString());
    }

    [StoreTheory]
    [InlineData("erin", null)]
    [InlineData("bob", "ticket-agent")]
    public async Task Deanonymize_CallerWithoutAGrant_Is403AndAudited(string user, string? agent)
    {
        var before = (await server.Runtime.Audit.VerifyAsync(CancellationToken.None)).Records;
        using var response = await DeanonymizeAsync(server.Token(user, agent), "conv-x", "<PERSON_1>");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var after = await server.Runtime.Audit.VerifyAsync(CancellationToken.None);
        Assert.Equal(before + 1, after.Records);
    }

    [StoreFact]
    public async Task InternalDestination_KeepsContactDetailsForTheAssignedEngineer_ButRedactsNothingElseAllowed()
    {
        var texts = await RetrieveTextsAsync("bob", "Fabrikam invoice sync failure contact email", null, "internal");
        Assert.Contains(texts, static t => t.Contains(".example", StringComparison.Ordinal));
    }

    private async Task<List<string>> RetrieveTextsAsync(string user, string query, string? conversation, string destination)
    {
        using var response = await server.PostRetrieveAsync(server.Token(user), new { query, top = 5, destination, conversationId = conversation });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        using var json = JsonDocument.Parse(text);
        return [.. json.RootElement.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("text").GetString()!)];
    }

    private Task<HttpResponseMessage> DeanonymizeAsync(string token, string conversation, string text)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/deanonymize") { Content = JsonContent.Create(new { conversationId = conversation, text }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return server.Client.SendAsync(request);
    }

    [GeneratedRegex(@"<[A-Z_]+_\d+>")]
    private static partial Regex Placeholder();

    /// <summary>Runs these scenarios on the embedded SQLite store and audit log.</summary>
    [Collection(ServerCollection.Name)]
    public sealed class OnSqlite(ServerFixture server) : AnonymizationTests(server);

    /// <summary>Runs these scenarios with the store and audit log in PostgreSQL.</summary>
    [Collection(PostgreSqlServerCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServerFixture server) : AnonymizationTests(server);
}
