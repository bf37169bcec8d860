using System.Net;
using System.Security.Claims;
using CopilotGuard.Cli;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Server.Tests.Cli;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.JsonWebTokens;

namespace CopilotGuard.Server.Tests.Hardening;

/// <summary>Issue 16, items 2 and 4: privileged roles come only from the directory or a trusted issuer, and development
/// tokens obey MaxTokenLifetime.</summary>
[Collection(ServerCollection.Name)]
public sealed class IdentityHardeningTests(ServerFixture server)
{
    private readonly AuditProbe _audit = new(server);

    [Theory]
    [InlineData("frank", "compliance-officer", "GET", "/v1/audit/verify", null)]
    [InlineData("frank", "compliance-officer", "GET", "/v1/console/integrity", null)]
    [InlineData("frank", "security-admin", "POST", "/v1/admin/principals/bob/suspend", null)]
    [InlineData("frank", "security-admin", "GET", "/v1/admin/principals/suspended", null)]
    [InlineData("frank", "compliance-officer", "POST", "/v1/policy/explain", """{"chunkId":"kb-vpn-setup#0","user":"bob"}""")]
    [InlineData("sam", "data-owner", "GET", "/v1/console/labels", null)]
    public async Task PrivilegedRoleClaimedByAToken_IsIgnored_AndTheIgnoringIsRecorded(string user, string role, string method, string path, string? body)
    {
        var token = server.Runtime.Issuer.CreateToken(user, extraClaims: new Dictionary<string, string[]> { ["roles"] = [role] });
        var (status, text, records) = await _audit.SendAsync(AuditProbe.Request(new HttpMethod(method), path, token, body));
        Assert.True(status == 403, $"{status}: {text}");
        var record = Assert.Single(records).Record;
        Assert.Equal(user, record.SubjectId);
        if (record.Kind == "refused")
        {
            Assert.Contains("ignored-token-roles:" + role, record.Target, StringComparison.Ordinal);
        }

        Assert.Null(await server.Runtime.Verification.State.GetSuspensionAsync("bob", CancellationToken.None));
    }

    [Fact]
    public async Task DirectoryRoles_StillGrant()
    {
        using var response = await server.Client.SendAsync(AuditProbe.Request(HttpMethod.Get, "/v1/audit/verify", server.Token("cora")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void TrustedRoleIssuer_KeepsPrivilegedRoles_OthersLoseThemButKeepOrdinaryOnes()
    {
        var token = server.Runtime.Issuer.CreateToken("frank", extraClaims: new Dictionary<string, string[]> { ["roles"] = ["compliance-officer", "support-engineer"] });

        var untrusted = Validate(token, new CopilotGuardIdentityOptions());
        Assert.Equal(["support-engineer"], untrusted.Principal!.FindAll("roles").Select(static c => c.Value));
        Assert.Equal("compliance-officer", untrusted.HttpContext.Items[TokenRoles.IgnoredItem]);

        var trusted = Validate(token, new CopilotGuardIdentityOptions { TrustedRoleIssuers = [DevelopmentIssuer.Issuer] });
        Assert.Equal(["compliance-officer", "support-engineer"], trusted.Principal!.FindAll("roles").Select(static c => c.Value));
        Assert.False(trusted.HttpContext.Items.ContainsKey(TokenRoles.IgnoredItem));
    }

    [Fact]
    public async Task DevelopmentTokenLongerThanMaxTokenLifetime_IsRefusedByTheServer()
    {
        var token = server.Runtime.Issuer.CreateToken("carol", lifetime: TimeSpan.FromHours(1000), maxLifetime: TimeSpan.FromDays(100));
        using var response = await server.PostRetrieveAsync(token, new { query = "vpn", destination = "internal" });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("not valid", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void DevelopmentIssuer_RefusesToMintPastTheCap()
    {
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => server.Runtime.Issuer.CreateToken("carol", lifetime: TimeSpan.FromHours(1000)));
        Assert.Contains("MaxTokenLifetime", refused.Message, StringComparison.Ordinal);
        Assert.NotEmpty(server.Runtime.Issuer.CreateToken("carol", lifetime: TimeSpan.FromHours(12)));
    }

    private static TokenValidatedContext Validate(string token, CopilotGuardIdentityOptions options)
    {
        var services = new ServiceCollection().AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(NullLoggerFactory.Instance).BuildServiceProvider();
        var jwt = new JsonWebToken(token);
        var context = new TokenValidatedContext(new DefaultHttpContext { RequestServices = services }, new AuthenticationScheme("Development", null, typeof(JwtBearerHandler)), new JwtBearerOptions())
        {
            SecurityToken = jwt,
            Principal = new ClaimsPrincipal(new ClaimsIdentity(jwt.Claims, "Development", "sub", "roles")),
        };
        TokenRoles.OnTokenValidated(context, options);
        return context;
    }
}

/// <summary>`copilotguard token` obeys the same lifetime cap as the server.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class TokenCommandLifetimeTests
{
    [Theory]
    [InlineData("1000")]
    [InlineData("12.5")]
    [InlineData("0")]
    [InlineData("-1")]
    public async Task Token_HoursOverTheCapOrNotPositive_IsRefusedWithAClearMessage(string hours)
    {
        var (originalOut, originalError) = (Console.Out, Console.Error);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        int exit;
        try
        {
            exit = await CliApp.Build().Parse(["token", "--user", "carol", "--hours", hours, "--data", Path.Combine(Path.GetTempPath(), "no-such-copilotguard-folder")]).InvokeAsync();
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }

        Assert.Equal(2, exit);
        Assert.Contains("at most 12 (CopilotGuard:Identity:MaxTokenLifetime)", error.ToString(), StringComparison.Ordinal);
        Assert.Empty(output.ToString());
    }
}
