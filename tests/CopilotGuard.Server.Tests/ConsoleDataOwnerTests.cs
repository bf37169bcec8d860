using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace CopilotGuard.Server.Tests;

/// <summary>The console's Labels view for data owners: only the sources they own; every other view stays compliance-only.</summary>
[Collection(ServerCollection.Name)]
public sealed class ConsoleDataOwnerTests(ServerFixture server)
{
    [Fact]
    public async Task Labels_DataOwner_SeesOnlyTheirOwnSources()
    {
        using var carol = await GetAsync("carol", "/v1/console/labels");
        using var cora = await GetAsync("cora", "/v1/console/labels");

        Assert.Equal(["marketing"], Sources(await carol.Content.ReadAsStringAsync()));
        Assert.Contains("hr", Sources(await cora.Content.ReadAsStringAsync()));
        Assert.True(Sources(await cora.Content.ReadAsStringAsync()).Count >= 8);
    }

    [Fact]
    public async Task Documents_DataOwner_AreFilteredToTheirSources()
    {
        using var own = await GetAsync("carol", "/v1/console/documents?limit=100");
        using var other = await GetAsync("carol", "/v1/console/documents?source=hr&limit=100");

        using var ownJson = JsonDocument.Parse(await own.Content.ReadAsStringAsync());
        var documents = ownJson.RootElement.GetProperty("documents").EnumerateArray().ToList();
        Assert.NotEmpty(documents);
        Assert.All(documents, static d => Assert.Equal("marketing", d.GetProperty("source").GetString()));
        using var otherJson = JsonDocument.Parse(await other.Content.ReadAsStringAsync());
        Assert.Empty(otherJson.RootElement.GetProperty("documents").EnumerateArray());
    }

    [Theory]
    [InlineData("carol", "/v1/console/documents/mkt-brand-guidelines/label-history", HttpStatusCode.OK)]
    [InlineData("carol", "/v1/console/documents/hr-parental-leave-policy/label-history", HttpStatusCode.NotFound)]
    [InlineData("carol", "/v1/console/activity", HttpStatusCode.Forbidden)]
    [InlineData("carol", "/v1/console/integrity", HttpStatusCode.Forbidden)]
    [InlineData("frank", "/v1/console/labels", HttpStatusCode.OK)]
    [InlineData("erin", "/v1/console/documents/hr-parental-leave-policy/label-history", HttpStatusCode.NotFound)]
    public async Task OtherViewsAndOtherSources_AreRefused(string user, string path, HttpStatusCode expected)
    {
        using var response = await GetAsync(user, path);
        Assert.Equal(expected, response.StatusCode);
    }

    private static List<string> Sources(string json)
    {
        using var document = JsonDocument.Parse(json);
        return [.. document.RootElement.GetProperty("sources").EnumerateArray().Select(static s => s.GetString()!)];
    }

    private Task<HttpResponseMessage> GetAsync(string user, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token(user));
        return server.Client.SendAsync(request);
    }
}
