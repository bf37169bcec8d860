using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using CopilotGuard.Server.Tests.PostgreSql;

namespace CopilotGuard.Server.Tests;

/// <summary>A data owner's label change over HTTP: effective on the next retrieval, audited, refused for others.</summary>
public abstract class LabelChangeTests(StoreServerFixture server)
{
    private const string Document = "mkt-case-study-fabrikam";

    [StoreFact]
    public async Task PutLabel_ByTheSourceOwner_TakesEffectOnTheNextRetrieval_AndIsAudited()
    {
        const string query = "Fabrikam customer case study store rollout";
        var (_, before) = await server.RetrieveAsync("bob", query, top: 10);
        Assert.Contains(before, static c => c.DocumentId == Document);
        try
        {
            using var response = await PutAsync("carol", Document, "Confidential");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("\"previous\":[\"Public\"]", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            var (_, after) = await server.RetrieveAsync("bob", query, top: 10);
            Assert.DoesNotContain(after, static c => c.DocumentId == Document);
            var (_, owner) = await server.RetrieveAsync("carol", query, top: 10);
            Assert.Contains(owner, static c => c.DocumentId == Document && c.Label.Name == "Confidential");
        }
        finally
        {
            using var restore = await PutAsync("carol", Document, "Public");
            Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        }

        var verification = await server.Runtime.Audit.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok);
    }

    [StoreTheory]
    [InlineData("bob", Document, "Confidential", HttpStatusCode.NotFound)]
    [InlineData("carol", "no-such-document", "Confidential", HttpStatusCode.NotFound)]
    [InlineData("carol", Document, "Top Secret", HttpStatusCode.BadRequest)]
    public async Task PutLabel_NotOwnerUnknownDocumentOrLabel_IsRefusedAndNothingChanges(string user, string document, string label, HttpStatusCode expected)
    {
        using var response = await PutAsync(user, document, label);
        Assert.Equal(expected, response.StatusCode);
        var chunks = await server.Runtime.Store.GetDocumentAsync(Document, CancellationToken.None);
        Assert.NotEmpty(chunks);
        Assert.All(chunks, static c => Assert.Equal("Public", c.Label.Name));
    }

    private Task<HttpResponseMessage> PutAsync(string user, string document, string label)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/documents/{document}/label") { Content = JsonContent.Create(new { label }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token(user));
        return server.Client.SendAsync(request);
    }

    /// <summary>Runs these scenarios on the embedded SQLite store and audit log.</summary>
    [Collection(ServerCollection.Name)]
    public sealed class OnSqlite(ServerFixture server) : LabelChangeTests(server);

    /// <summary>Runs these scenarios with the store and audit log in PostgreSQL.</summary>
    [Collection(PostgreSqlServerCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServerFixture server) : LabelChangeTests(server);
}
