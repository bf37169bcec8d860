using System.Security.Claims;
using CopilotGuard.Filtering;
using CopilotGuard.Hosting.Identity;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Server.Tests.Identity;

/// <summary>Token claims keep their JSON types: a JSON number or boolean in a token is a number or boolean attribute.</summary>
public sealed class ClaimTypingTests
{
    [Fact]
    public async Task ReadCaller_ValidatedJwtWithNumberAndBooleanClaims_KeepsTheirTypes()
    {
        var key = new SymmetricSecurityKey(new byte[32]);
        var handler = new JsonWebTokenHandler { MapInboundClaims = false };
        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "test",
            Audience = "test",
            Claims = new Dictionary<string, object>
            {
                ["sub"] = "carol",
                ["groups"] = new object[] { "g-marketing", 5 },
                ["roles"] = true,
            },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
        var validated = await handler.ValidateTokenAsync(token, new TokenValidationParameters { ValidIssuer = "test", ValidAudience = "test", IssuerSigningKey = key });
        Assert.True(validated.IsValid, validated.Exception?.Message);

        var caller = DevelopmentIssuer.ReadCaller(new ClaimsPrincipal(validated.ClaimsIdentity));

        Assert.NotNull(caller);
        Assert.True(caller.SubjectClaims.TryGet("groups", out var groups));
        Assert.Equal([AttributeValue.FromString("g-marketing"), AttributeValue.FromNumber(5)], groups.OrderBy(static g => g.Kind).ToArray());
        Assert.True(caller.SubjectClaims.TryGet("roles", out var roles));
        Assert.Equal(AttributeValue.FromBoolean(true), Assert.Single(roles));
    }

    [Theory]
    [InlineData("true", ClaimValueTypes.Boolean, "true:Boolean")]
    [InlineData("42", ClaimValueTypes.Integer64, "42:Number")]
    [InlineData("2.5", ClaimValueTypes.Double, "2.5:Number")]
    [InlineData("42", ClaimValueTypes.String, "42")]
    [InlineData("yes", ClaimValueTypes.Boolean, "yes")]
    public void ClaimValue_TypesByTheClaimsValueType(string value, string valueType, string expected) =>
        Assert.Equal(expected, DevelopmentIssuer.ClaimValue(new Claim("groups", value, valueType)).ToString());
}
