using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Server.Tests.Identity;

/// <summary>An OIDC issuer in process: a metadata document and a JWKS served through the backchannel handler, and an
/// RSA key that signs tokens.</summary>
public sealed class OidcServerFixture : IAsyncLifetime
{
    public const string Authority = "https://login.contoso.test/tenant-1/v2.0";
    public const string Audience = "api://copilotguard";

    private WebApplication? _app;

    public RSA Key { get; } = RSA.Create(2048);

    public RsaSecurityKey SigningKey => new(Key) { KeyId = "tenant-key-1" };

    public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-oidc-").FullName;

    public HttpClient Client { get; private set; } = null!;

    public MetadataHandler Metadata { get; private set; } = null!;

    public CopilotGuardRuntime Runtime { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Metadata = new MetadataHandler(SigningKey);
        _app = await CopilotGuardServer.BuildAsync(
            [
                "--data", DataPath,
                "--urls", "http://127.0.0.1:0",
                "--environment", "Production",
                "--Logging:LogLevel:Default=Warning",
                "--CopilotGuard:Identity:Authority=" + Authority,
                "--CopilotGuard:Identity:Audiences:0=" + Audience,
                "--CopilotGuard:Identity:SubjectClaim=oid",
                "--CopilotGuard:Identity:MaxTokenLifetime=02:00:00",
            ],
            builder => builder.Services.AddSingleton(new OidcBackchannel(Metadata)));
        await _app.StartAsync();
        Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Client = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Key.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataPath, recursive: true);
    }

    public string Token(
        string oid,
        string? actor = null,
        string issuer = Authority,
        string audience = Audience,
        DateTime? notBefore = null,
        TimeSpan? lifetime = null,
        SecurityKey? key = null,
        string algorithm = SecurityAlgorithms.RsaSha256)
    {
        var start = notBefore ?? DateTime.UtcNow.AddMinutes(-1);
        var claims = new Dictionary<string, object> { ["oid"] = oid, ["sub"] = "pairwise-" + oid, ["tid"] = "tenant-1" };
        if (actor is not null)
        {
            claims["act"] = new Dictionary<string, object> { ["sub"] = actor };
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = start,
            NotBefore = start,
            Expires = start + (lifetime ?? TimeSpan.FromHours(1)),
            SigningCredentials = new SigningCredentials(key ?? SigningKey, algorithm),
        });
    }

    public Task<HttpResponseMessage> RetrieveAsync(string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/retrieve", UriKind.Relative)) { Content = JsonContent.Create(new { query = "reset a POS terminal", top = 3, destination = "internal" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Client.SendAsync(request);
    }

    /// <summary>Answers the OIDC discovery document and the JWKS as an identity provider would, counting requests.</summary>
    public sealed class MetadataHandler(RsaSecurityKey key) : HttpMessageHandler
    {
        private int _requests;

        public int Requests => _requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            var path = request.RequestUri!.AbsoluteUri;
            string? json = path switch
            {
                Authority + "/.well-known/openid-configuration" => JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["issuer"] = Authority,
                    ["jwks_uri"] = "https://login.contoso.test/tenant-1/discovery/v2.0/keys",
                    ["authorization_endpoint"] = "https://login.contoso.test/tenant-1/oauth2/v2.0/authorize",
                    ["token_endpoint"] = "https://login.contoso.test/tenant-1/oauth2/v2.0/token",
                    ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
                }),
                "https://login.contoso.test/tenant-1/discovery/v2.0/keys" => Jwks(),
                _ => null,
            };
            return Task.FromResult(json is null
                ? new HttpResponseMessage(HttpStatusCode.NotFound)
                : new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
        }

        private string Jwks()
        {
            var parameters = key.Rsa.ExportParameters(false);
            return JsonSerializer.Serialize(new
            {
                keys = new[]
                {
                    new { kty = "RSA", use = "sig", kid = key.KeyId, alg = "RS256", n = Base64UrlEncoder.Encode(parameters.Modulus), e = Base64UrlEncoder.Encode(parameters.Exponent) },
                },
            });
        }
    }
}

public sealed class OidcAuthenticationTests(OidcServerFixture server) : IClassFixture<OidcServerFixture>
{
    [Fact]
    public async Task Retrieve_OidcTokenWithObjectId_IsTheDirectoryUser()
    {
        using var response = await server.RetrieveAsync(server.Token("bob"));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var receipt = JsonDocument.Parse(text).RootElement.GetProperty("receiptId").GetString()!;
        Assert.Equal("bob", (await server.Runtime.Audit.GetAsync(receipt, CancellationToken.None))!.Record.SubjectId);
        Assert.True(server.Metadata.Requests >= 2);
    }

    [Fact]
    public async Task Retrieve_OidcTokenWithActClaim_AuditsUserAndAgent()
    {
        using var response = await server.RetrieveAsync(server.Token("carol", actor: "ticket-agent"));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var record = (await server.Runtime.Audit.GetAsync(JsonDocument.Parse(text).RootElement.GetProperty("receiptId").GetString()!, CancellationToken.None))!.Record;
        Assert.Equal(("carol", "ticket-agent"), (record.SubjectId, record.ActorId));
    }

    public static TheoryData<string, string> BadTokens() => new()
    {
        { "expired", "expired" },
        { "not-yet-valid", "not valid yet" },
        { "wrong-audience", "audience" },
        { "wrong-issuer", "issuer" },
        { "unknown-key", "signature" },
        { "too-long", "not valid" },
        { "alg-none", "not valid" },
        { "tampered", "signature" },
        { "development-issuer", "bearer token" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Retrieve_BadOidcToken_Is401(string kind, string reason)
    {
        using var attacker = RSA.Create(2048);
        var token = kind switch
        {
            "expired" => server.Token("bob", notBefore: DateTime.UtcNow.AddHours(-3)),
            "not-yet-valid" => server.Token("bob", notBefore: DateTime.UtcNow.AddHours(1)),
            "wrong-audience" => server.Token("bob", audience: "api://someone-else"),
            "wrong-issuer" => server.Token("bob", issuer: "https://login.contoso.test/other-tenant/v2.0"),
            "unknown-key" => server.Token("bob", key: new RsaSecurityKey(attacker) { KeyId = "tenant-key-1" }),
            "too-long" => server.Token("bob", lifetime: TimeSpan.FromHours(24)),
            "alg-none" => Unsigned(),
            "tampered" => Tamper(server.Token("carol")),
            _ => server.Runtime.Issuer.CreateToken("bob"),
        };

        using var response = await server.RetrieveAsync(token);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task BuildAsync_ProductionWithoutAnyIssuer_FailsAtStartUp()
    {
        // The fixture's folder is already seeded, so nothing is embedded again.
        await using var app = await CopilotGuardServer.BuildAsync(["--data", server.DataPath, "--urls", "http://127.0.0.1:0", "--environment", "Production", "--Logging:LogLevel:Default=None"]);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("AllowDevelopmentIssuer", exception.Message, StringComparison.Ordinal);
    }

    private static string Unsigned()
    {
        var header = Base64UrlEncoder.Encode("""{"alg":"none","typ":"JWT"}""");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = Base64UrlEncoder.Encode($$"""{"iss":"{{OidcServerFixture.Authority}}","aud":"{{OidcServerFixture.Audience}}","oid":"alice","sub":"x","nbf":{{now - 60}},"exp":{{now + 600}}}""");
        return $"{header}.{payload}.";
    }

    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var payload = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace("\"carol\"", "\"alice\"", StringComparison.Ordinal);
        return $"{parts[0]}.{Base64UrlEncoder.Encode(payload)}.{parts[2]}";
    }
}
