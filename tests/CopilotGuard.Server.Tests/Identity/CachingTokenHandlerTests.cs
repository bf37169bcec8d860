using System.Security.Claims;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Server.Tests.Identity;

/// <summary>The validated-token cache only ever short-cuts a check that succeeded, never outlives the token or
/// <see cref="CachingTokenHandler.MaxAge"/>, and never shares a claims identity between requests.</summary>
public sealed class CachingTokenHandlerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("copilotguard-tokens-").FullName;
    private readonly ManualClock _time = new();

    [Fact]
    public async Task ValidToken_IsValidAgain_WithItsOwnCopyOfTheClaims()
    {
        var (issuer, parameters) = Issuer("a");
        var handler = new CachingTokenHandler(_time);
        var token = issuer.CreateToken("bob", now: _time.GetUtcNow());

        var first = await handler.ValidateTokenAsync(token, parameters);
        first.ClaimsIdentity.AddClaim(new Claim("roles", "security-admin"));
        var second = await handler.ValidateTokenAsync(token, parameters);

        Assert.True(first.IsValid);
        Assert.True(second.IsValid);
        Assert.Equal("bob", second.ClaimsIdentity.FindFirst("sub")?.Value);
        Assert.NotSame(first.ClaimsIdentity, second.ClaimsIdentity);
        Assert.Null(second.ClaimsIdentity.FindFirst("roles"));
    }

    [Fact]
    public async Task CachedToken_PastItsExpiry_IsRejected()
    {
        var (issuer, parameters) = Issuer("a");
        var handler = new CachingTokenHandler(_time);
        var token = issuer.CreateToken("bob", lifetime: TimeSpan.FromMinutes(2), now: _time.GetUtcNow());
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);

        _time.Advance(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1));

        Assert.False((await handler.ValidateTokenAsync(token, parameters)).IsValid);
    }

    [Fact]
    public async Task TamperedOrForgedTokens_AreRejectedEveryTime_EvenAfterTheGenuineOneWasCached()
    {
        var (issuer, parameters) = Issuer("a");
        var (forger, _) = Issuer("b");
        var handler = new CachingTokenHandler(_time);
        var token = issuer.CreateToken("bob", now: _time.GetUtcNow());
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);

        var signatureStart = token.LastIndexOf('.') + 1;
        var tampered = token[..signatureStart] + (token[signatureStart] == 'A' ? 'B' : 'A') + token[(signatureStart + 1)..];
        var forged = forger.CreateToken("bob", now: _time.GetUtcNow());
        foreach (var bad in new[] { tampered, forged, tampered, forged })
        {
            Assert.False((await handler.ValidateTokenAsync(bad, parameters)).IsValid);
        }
    }

    [Fact]
    public async Task WithdrawnSigningKey_StopsAcceptingACachedToken_AfterMaxAge()
    {
        var (issuer, parameters) = Issuer("a");
        var (_, other) = Issuer("b");
        var handler = new CachingTokenHandler(_time);
        var token = issuer.CreateToken("bob", lifetime: TimeSpan.FromHours(1), now: _time.GetUtcNow());
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);

        // The issuer's key is gone from the validation parameters (rotated out).
        Assert.True((await handler.ValidateTokenAsync(token, other)).IsValid);
        _time.Advance(CachingTokenHandler.MaxAge);

        Assert.False((await handler.ValidateTokenAsync(token, other)).IsValid);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (DevelopmentIssuer Issuer, TokenValidationParameters Parameters) Issuer(string name)
    {
        var issuer = DevelopmentIssuer.LoadOrCreate(new DataFolder(Path.Combine(_folder, name)));
        var parameters = issuer.ValidationParameters;
        parameters.ClockSkew = TimeSpan.Zero;
        parameters.LifetimeValidator = (notBefore, expires, _, _) => notBefore <= _time.GetUtcNow().UtcDateTime && _time.GetUtcNow().UtcDateTime < expires;
        return (issuer, parameters);
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.UtcNow;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
