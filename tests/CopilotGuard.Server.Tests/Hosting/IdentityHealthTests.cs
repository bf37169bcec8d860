using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using CopilotGuard.Server.Hosting;
using CopilotGuard.Server.Identity;
using CopilotGuard.Server.Tests.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>The identity provider's metadata through a backchannel that can be taken down: 503 while <see cref="Down"/>,
/// the discovery document and JWKS of <see cref="OidcServerFixture.MetadataHandler"/> otherwise.</summary>
public sealed class SwitchableMetadata : HttpMessageHandler
{
    private readonly RSA _key = RSA.Create(2048);
    private readonly HttpMessageInvoker _up;

    public SwitchableMetadata() => _up = new HttpMessageInvoker(new OidcServerFixture.MetadataHandler(new RsaSecurityKey(_key) { KeyId = "health-key-1" }));

    public volatile bool Down = true;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Down ? Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)) : _up.SendAsync(request, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _up.Dispose();
            _key.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>A server with an OIDC issuer whose metadata starts unreachable.</summary>
public sealed class OidcHealthServerFixture : StoreServerFixture
{
    public SwitchableMetadata Metadata { get; } = new();

    public override string StoreName => "sqlite";

    protected override CopilotGuardServerOptions ServerOptions => new() { Configure = builder => builder.Services.AddSingleton(new OidcBackchannel(Metadata)) };

    protected override Task<string[]> StartProvidersAsync() => Task.FromResult<string[]>(
        ["--CopilotGuard:Identity:Authority=" + OidcServerFixture.Authority, "--CopilotGuard:Identity:Audiences:0=" + OidcServerFixture.Audience]);
}

/// <summary>Issue 17: readiness fetches the OIDC metadata and keys through the bearer handler's own configuration
/// manager, so an unreachable identity provider makes the server not ready (and live), and a reachable one ready.</summary>
public sealed class IdentityHealthTests(OidcHealthServerFixture server) : IClassFixture<OidcHealthServerFixture>
{
    [Fact]
    public async Task OidcMetadataUnreachable_ReadyIs503NamingIdentity_ThenReadyOnceReachable()
    {
        server.Metadata.Down = true;
        var (status, checks) = await GetReadyAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("unhealthy", checks["identity"]);
        Assert.All(checks.Where(static c => c.Key != "identity"), static c => Assert.Equal("healthy", c.Value));
        using (var live = await server.Client.GetAsync(new Uri(CopilotGuardHealth.LivePath, UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        server.Metadata.Down = false;
        (status, checks) = await GetReadyAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", checks["identity"]);
    }

    private async Task<(HttpStatusCode Status, Dictionary<string, string> Checks)> GetReadyAsync()
    {
        using var response = await server.Client.GetAsync(new Uri(CopilotGuardHealth.ReadyPath, UriKind.Relative));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, json.RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(static c => c.GetProperty("name").GetString()!, static c => c.GetProperty("status").GetString()!, StringComparer.Ordinal));
    }
}
