using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CopilotGuard.Hosting.Identity;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class AuthenticationTests(ServerFixture server)
{
    private static readonly object Body = new { query = "parental leave", destination = "internal" };

    [Fact]
    public async Task Healthz_WithoutToken_IsOk()
    {
        using var response = await server.Client.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task OpenApi_WithoutToken_DescribesRetrieve()
    {
        var document = await server.Client.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        Assert.Contains("/v1/retrieve", document, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retrieve_WithoutToken_Is401Problem()
    {
        using var response = await server.PostRetrieveAsync(null, Body);
        await AssertUnauthorizedAsync(response, "bearer token is required");
    }

    [Fact]
    public async Task Retrieve_ExpiredToken_Is401()
    {
        var token = server.Runtime.Issuer.CreateToken("carol", lifetime: TimeSpan.FromMinutes(5), now: DateTimeOffset.UtcNow.AddHours(-2));
        using var response = await server.PostRetrieveAsync(token, Body);
        await AssertUnauthorizedAsync(response, "expired");
    }

    [Fact]
    public async Task Retrieve_NotYetValidToken_Is401()
    {
        var token = server.Runtime.Issuer.CreateToken("carol", now: DateTimeOffset.UtcNow.AddHours(2));
        using var response = await server.PostRetrieveAsync(token, Body);
        await AssertUnauthorizedAsync(response, "not valid yet");
    }

    [Fact]
    public async Task Retrieve_TokenSignedByAnotherKey_Is401()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var token = Sign(new ECDsaSecurityKey(key) { KeyId = "attacker" }, DevelopmentIssuer.Issuer, DevelopmentIssuer.Audience, "alice");
        using var response = await server.PostRetrieveAsync(token, Body);
        await AssertUnauthorizedAsync(response, "signature");
    }

    [Fact]
    public async Task Retrieve_WrongAudienceOrIssuer_Is401()
    {
        using var wrongAudience = await server.PostRetrieveAsync(Sign(IssuerKey(), DevelopmentIssuer.Issuer, "some-other-api", "alice"), Body);
        await AssertUnauthorizedAsync(wrongAudience, "audience");
        using var wrongIssuer = await server.PostRetrieveAsync(Sign(IssuerKey(), "https://evil.example", DevelopmentIssuer.Audience, "alice"), Body);
        await AssertUnauthorizedAsync(wrongIssuer, "issuer");
    }

    [Fact]
    public async Task Retrieve_TamperedPayload_Is401()
    {
        var parts = server.Token("carol").Split('.');
        var payload = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace("\"carol\"", "\"alice\"", StringComparison.Ordinal);
        var tampered = $"{parts[0]}.{Base64UrlEncoder.Encode(payload)}.{parts[2]}";
        using var response = await server.PostRetrieveAsync(tampered, Body);
        await AssertUnauthorizedAsync(response, "signature");
    }

    [Fact]
    public async Task Retrieve_AlgNoneToken_Is401()
    {
        var header = Base64UrlEncoder.Encode("""{"alg":"none","typ":"JWT"}""");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = Base64UrlEncoder.Encode($$"""{"sub":"alice","iss":"{{DevelopmentIssuer.Issuer}}","aud":"{{DevelopmentIssuer.Audience}}","iat":{{now}},"nbf":{{now}},"exp":{{now + 3600}}}""");
        using var response = await server.PostRetrieveAsync($"{header}.{payload}.", Body);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("not-a-token")]
    [InlineData("a.b.c")]
    [InlineData("")]
    public async Task Retrieve_MalformedToken_Is401(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = System.Net.Http.Json.JsonContent.Create(Body) };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        using var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Retrieve_UserNotInDirectory_Is403()
    {
        using var response = await server.PostRetrieveAsync(server.Token("mallory"), Body);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("mallory", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rogue-agent")]
    [InlineData("bob")]
    public async Task Retrieve_ActorThatIsNotARegisteredAgent_Is403(string actor)
    {
        using var response = await server.PostRetrieveAsync(server.Token("carol", actor), Body);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    private static async Task AssertUnauthorizedAsync(HttpResponseMessage response, string reason)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(401, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(reason, problem.RootElement.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    private ECDsaSecurityKey IssuerKey()
    {
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(Path.Combine(server.DataPath, "keys", "dev-issuer.pem")));
        return new ECDsaSecurityKey(key);
    }

    private static string Sign(SecurityKey key, string issuer, string audience, string subject) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = new Dictionary<string, object> { ["sub"] = subject },
            Expires = DateTime.UtcNow.AddHours(1),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
        });
}
