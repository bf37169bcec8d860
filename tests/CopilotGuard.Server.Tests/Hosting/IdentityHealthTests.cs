using System.Net;
using System.Security.Cryptography;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
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
        await Readiness.AssertOnlyFailingAsync(server.Client, "identity");
        await Readiness.AssertLiveAsync(server.Client);

        server.Metadata.Down = false;
        await Readiness.AssertReadyAsync(server.Client);
    }
}
