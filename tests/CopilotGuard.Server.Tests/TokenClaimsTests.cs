using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace CopilotGuard.Server.Tests;

/// <summary>The token-claims entitlement provider: groups and roles carried by a validated token add to the directory's.</summary>
[Collection(ServerCollection.Name)]
public sealed class TokenClaimsTests(ServerFixture server)
{
    [Fact]
    public async Task PrivilegedRolesClaim_IsIgnoredByDefault_DirectoryRolesGrant()
    {
        // compliance-officer in a token is not trusted (CopilotGuard:Identity:TrustedRoleIssuers is empty by default).
        var withRole = server.Runtime.Issuer.CreateToken("frank", extraClaims: new Dictionary<string, string[]> { ["roles"] = ["compliance-officer", "x"] });

        using var claimed = await ExplainForBobAsync(withRole);
        using var directory = await ExplainForBobAsync(server.Token("cora"));

        Assert.Equal(HttpStatusCode.Forbidden, claimed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, directory.StatusCode);
    }

    [Fact]
    public async Task OtherClaims_AreNotEntitlements()
    {
        var token = server.Runtime.Issuer.CreateToken("frank", extraClaims: new Dictionary<string, string[]> { ["department"] = ["HR"], ["clearance"] = ["Highly Confidential"] });
        using var response = await server.PostRetrieveAsync(token, new { query = "parental leave policy", top = 20, destination = "internal" });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.DoesNotContain("\"source\":\"hr\"", body, StringComparison.Ordinal);
    }

    private Task<HttpResponseMessage> ExplainForBobAsync(string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/policy/explain") { Content = JsonContent.Create(new { chunkId = "kb-vpn-setup#0", user = "bob", destination = "internal" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return server.Client.SendAsync(request);
    }
}
