using System.Net;
using System.Web;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using Microsoft.Extensions.Time.Testing;

namespace CopilotGuard.Connectors.MicrosoftGraph.Tests;

public sealed class MicrosoftGraphEntitlementProviderTests
{
    private const string UserId = "8f1c2b7e-3b1a-4c55-9a39-3c1f0e6d2a10";

    private const string User = $$"""
        {
          "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,accountEnabled,department,jobTitle,country,employeeType,customSecurityAttributes)/$entity",
          "id": "{{UserId}}",
          "displayName": "Bob Martinez",
          "accountEnabled": true,
          "department": "Support",
          "jobTitle": "Support Engineer",
          "country": "US",
          "employeeType": "Employee",
          "customSecurityAttributes": {
            "Contoso": { "@odata.type": "#microsoft.graph.customSecurityAttributeValue", "Clearance": "Confidential", "Accounts@odata.type": "#Collection(String)", "Accounts": ["contoso-retail", "fabrikam"] }
          }
        }
        """;

    private const string NextLink = $"https://graph.microsoft.com/v1.0/users/{UserId}/transitiveMemberOf?$select=id,displayName&$top=2&$skiptoken=RFNwdAIAAQAAAA";

    private const string GroupsPage1 = $$"""
        {
          "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id,displayName)",
          "@odata.nextLink": "{{NextLink}}",
          "value": [
            { "@odata.type": "#microsoft.graph.group", "id": "g-all-employees", "displayName": "all-employees" },
            { "@odata.type": "#microsoft.graph.directoryRole", "id": "r-reader", "displayName": "Directory Readers" }
          ]
        }
        """;

    private const string GroupsPage2 = """
        {
          "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id,displayName)",
          "value": [ { "@odata.type": "#microsoft.graph.group", "id": "g-support", "displayName": "support" } ]
        }
        """;

    private readonly GraphTransport _transport = new();
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero));

    private MicrosoftGraphEntitlementProvider Provider(MicrosoftGraphEntitlementOptions? options = null) => new(
        MicrosoftGraphEntitlementProvider.CreateClient(new StaticTokenProvider(), _transport),
        options ?? new MicrosoftGraphEntitlementOptions
        {
            PageSize = 2,
            CustomSecurityAttributes = new Dictionary<string, string> { ["Contoso.Clearance"] = "clearance", ["Contoso.Accounts"] = "accounts" },
        },
        LabelTaxonomy.Default,
        _clock);

    [Fact]
    public async Task ResolveAsync_User_SendsTheDocumentedRequestsAndFollowsNextLink()
    {
        _transport.Reply(HttpStatusCode.OK, User).Reply(HttpStatusCode.OK, GroupsPage1).Reply(HttpStatusCode.OK, GroupsPage2);

        var principal = await Provider().ResolveAsync(UserId, CancellationToken.None);

        Assert.Equal(3, _transport.Requests.Count);
        var (method, user, headers) = _transport.Requests[0];
        Assert.Equal("GET", method);
        Assert.Equal($"https://graph.microsoft.com/v1.0/users/{UserId}", user.GetLeftPart(UriPartial.Path));
        Assert.Equal(string.Join(",", MicrosoftGraphEntitlementProvider.UserSelect), HttpUtility.ParseQueryString(user.Query)["$select"]);
        Assert.Equal("Bearer test-graph-token", headers["Authorization"]);
        Assert.Contains("graph-dotnet-core/", headers["SdkVersion"], StringComparison.Ordinal);
        var groups = _transport.Requests[1].Uri;
        Assert.Equal($"https://graph.microsoft.com/v1.0/users/{UserId}/transitiveMemberOf", groups.GetLeftPart(UriPartial.Path));
        Assert.Equal("id,displayName", HttpUtility.ParseQueryString(groups.Query)["$select"]);
        Assert.Equal("2", HttpUtility.ParseQueryString(groups.Query)["$top"]);
        Assert.Equal(NextLink, _transport.Requests[2].Uri.OriginalString);

        Assert.NotNull(principal);
        Assert.Equal((PrincipalKind.User, "Bob Martinez"), (principal.Kind, principal.DisplayName));
        Assert.Equal("Support", Text(principal, "department").Single());
        Assert.Equal("Support Engineer", Text(principal, "jobTitle").Single());
        Assert.Equal("US", Text(principal, "country").Single());
        Assert.Equal("Employee", Text(principal, "employeeType").Single());
        Assert.Equal(["g-all-employees", "g-support"], Text(principal, "groups"));
        Assert.Equal(["all-employees", "support"], Text(principal, "groupNames"));
        Assert.Equal(["contoso-retail", "fabrikam"], Text(principal, "accounts"));
        Assert.True(principal.Attributes.TryGet("clearance", out var clearance));
        Assert.Equal(LabelTaxonomy.Default.Get("Confidential").ToAttributeValue(), clearance.Single());
    }

    [Fact]
    public async Task ResolveAsync_CustomSecurityAttributes_KeepTheirJsonTypes()
    {
        const string typedUser = $$"""
            {
              "id": "{{UserId}}",
              "displayName": "Bob Martinez",
              "accountEnabled": true,
              "customSecurityAttributes": {
                "Contoso": { "@odata.type": "#microsoft.graph.customSecurityAttributeValue", "Level@odata.type": "#Int32", "Level": 5, "Restricted": true, "Code": "5", "Scores@odata.type": "#Collection(Int32)", "Scores": [1, 2] }
              }
            }
            """;
        _transport.Reply(HttpStatusCode.OK, typedUser).Reply(HttpStatusCode.OK, GroupsPage2);
        var provider = Provider(new MicrosoftGraphEntitlementOptions
        {
            CustomSecurityAttributes = new Dictionary<string, string> { ["Contoso.Level"] = "level", ["Contoso.Restricted"] = "restricted", ["Contoso.Code"] = "code", ["Contoso.Scores"] = "scores" },
        });

        var principal = await provider.ResolveAsync(UserId, CancellationToken.None);

        Assert.NotNull(principal);
        Assert.True(principal.Attributes.TryGet("level", out var level));
        Assert.Equal(AttributeValue.FromNumber(5), level.Single());
        Assert.True(principal.Attributes.TryGet("restricted", out var restricted));
        Assert.Equal(AttributeValue.FromBoolean(true), restricted.Single());
        Assert.True(principal.Attributes.TryGet("code", out var code));
        Assert.Equal(AttributeValue.FromString("5"), code.Single());
        Assert.True(principal.Attributes.TryGet("scores", out var scores));
        Assert.Equal([AttributeValue.FromNumber(1), AttributeValue.FromNumber(2)], scores.ToArray());
    }

    [Fact]
    public async Task ResolveAsync_ThrottledWithShortRetryAfter_WaitsOnTheClockAndRetries()
    {
        _transport
            .Reply((HttpStatusCode)429, GraphTransport.Error("TooManyRequests", "Too many requests"), ("Retry-After", "3"))
            .Reply(HttpStatusCode.OK, User)
            .Reply(HttpStatusCode.OK, GroupsPage2);

        var resolving = Provider().ResolveAsync(UserId, CancellationToken.None).AsTask();
        while (!resolving.IsCompleted && _transport.Requests.Count < 2)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }

        var principal = await resolving;

        Assert.NotNull(principal);
        Assert.Equal(3, _transport.Requests.Count);
        Assert.Equal(_transport.Requests[0].Uri, _transport.Requests[1].Uri);
        Assert.True(_clock.GetUtcNow() >= new DateTimeOffset(2026, 11, 28, 9, 0, 3, TimeSpan.Zero));
    }

    [Fact]
    public async Task ResolveAsync_ThrottledWithLongRetryAfter_FailsAtOnceWithoutHammering()
    {
        _transport.Reply((HttpStatusCode)429, GraphTransport.Error("TooManyRequests", "Too many requests"), ("Retry-After", "120"));

        var exception = await Assert.ThrowsAsync<EntitlementUnavailableException>(async () => await Provider().ResolveAsync(UserId, CancellationToken.None));

        Assert.Contains("retry after 120 s", exception.Message, StringComparison.Ordinal);
        Assert.Single(_transport.Requests);
    }

    [Fact]
    public async Task ResolveAsync_DeletedUser404_IsUnknown()
    {
        _transport.Reply(HttpStatusCode.NotFound, GraphTransport.Error("Request_ResourceNotFound", $"Resource '{UserId}' does not exist or one of its queried reference-property objects are not present."));

        Assert.Null(await Provider().ResolveAsync(UserId, CancellationToken.None));
        Assert.Single(_transport.Requests);
    }

    [Fact]
    public async Task ResolveAsync_DisabledAccount_IsUnknown()
    {
        _transport.Reply(HttpStatusCode.OK, User.Replace("\"accountEnabled\": true", "\"accountEnabled\": false", StringComparison.Ordinal));
        Assert.Null(await Provider().ResolveAsync(UserId, CancellationToken.None));
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "InvalidAuthenticationToken")]
    [InlineData(HttpStatusCode.Forbidden, "Authorization_RequestDenied")]
    [InlineData(HttpStatusCode.InternalServerError, "generalException")]
    public async Task ResolveAsync_GraphRefuses_FailsClosed(HttpStatusCode status, string code)
    {
        _transport.Reply(status, GraphTransport.Error(code, "refused"));

        var exception = await Assert.ThrowsAsync<EntitlementUnavailableException>(async () => await Provider().ResolveAsync(UserId, CancellationToken.None));

        Assert.Contains($"HTTP {(int)status}", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResolveAsync_NetworkDown_FailsClosed()
    {
        _transport.Throw(new HttpRequestException("connection refused"));
        await Assert.ThrowsAsync<EntitlementUnavailableException>(async () => await Provider().ResolveAsync(UserId, CancellationToken.None));
    }

    [Fact]
    public async Task ResolveAsync_MoreGroupPagesThanAllowed_FailsClosedRatherThanPartial()
    {
        _transport.Reply(HttpStatusCode.OK, User).Reply(HttpStatusCode.OK, GroupsPage1);
        var options = new MicrosoftGraphEntitlementOptions { MaxGroupPages = 1 };

        await Assert.ThrowsAsync<EntitlementUnavailableException>(async () => await Provider(options).ResolveAsync(UserId, CancellationToken.None));
    }

    private static List<string> Text(Principal principal, string name) =>
        principal.Attributes.TryGet(name, out var values) ? [.. values.Select(static v => v.Text)] : [];
}
