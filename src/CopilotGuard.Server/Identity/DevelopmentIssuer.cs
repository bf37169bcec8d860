using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Server.Hosting;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Server.Identity;

/// <summary>The development token issuer of the embedded default: an ES256 key in the data folder.</summary>
/// <remarks>Tokens carry <c>sub</c> (the user) and, for delegation, <c>act: {sub: agent}</c> as in RFC 8693.
/// For development and tests only: production deployments validate tokens from their OIDC issuer.</remarks>
public sealed class DevelopmentIssuer
{
    /// <summary>The issuer name in tokens.</summary>
    public const string Issuer = "copilotguard-dev";

    /// <summary>The audience tokens are for.</summary>
    public const string Audience = "copilotguard";

    private readonly ECDsaSecurityKey _key;

    private DevelopmentIssuer(ECDsa key) => _key = new ECDsaSecurityKey(key) { KeyId = "dev-" + Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16] };

    /// <summary>Loads the issuer key from the data folder, creating it on first use.</summary>
    public static DevelopmentIssuer LoadOrCreate(DataFolder data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Directory.CreateDirectory(data.KeysPath);
        var path = Path.Combine(data.KeysPath, "dev-issuer.pem");
        var key = ECDsa.Create();
        if (File.Exists(path))
        {
            key.ImportFromPem(File.ReadAllText(path));
        }
        else
        {
            key.GenerateKey(ECCurve.NamedCurves.nistP256);
            DataFolder.WriteSecret(path, key.ExportECPrivateKeyPem());
        }

        return new DevelopmentIssuer(key);
    }

    /// <summary>Gets the parameters that validate this issuer's tokens: signature, issuer, audience, lifetime.</summary>
    public TokenValidationParameters ValidationParameters => new()
    {
        ValidIssuer = Issuer,
        ValidAudience = Audience,
        IssuerSigningKey = _key,
        ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        ValidateIssuer = true,
        ValidateAudience = true,
        ValidateLifetime = true,
        ValidateIssuerSigningKey = true,
        ClockSkew = TimeSpan.FromSeconds(30),
        NameClaimType = "sub",
    };

    /// <summary>Mints a token for a user, optionally with an agent acting for it.</summary>
    public string CreateToken(string subject, string? actor = null, TimeSpan? lifetime = null, DateTimeOffset? now = null, IReadOnlyDictionary<string, string[]>? extraClaims = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        var issuedAt = (now ?? DateTimeOffset.UtcNow).UtcDateTime;
        var claims = new Dictionary<string, object> { ["sub"] = subject };
        foreach (var (name, values) in extraClaims ?? new Dictionary<string, string[]>())
        {
            claims[name] = values;
        }

        if (actor is not null)
        {
            claims["act"] = new Dictionary<string, object> { ["sub"] = actor };
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = claims,
            IssuedAt = issuedAt,
            NotBefore = issuedAt,
            Expires = issuedAt + (lifetime ?? TimeSpan.FromHours(8)),
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>The message for a validated token that names no usable caller.</summary>
    public const string MissingCallerMessage = "The token does not name a caller (sub) or has a malformed act claim.";

    /// <summary>Returns the 401 problem for a validated token that names no usable caller.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult MissingCallerProblem() =>
        TypedResults.Problem(MissingCallerMessage, statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized");

    /// <summary>Types a claim's value by its JSON type (kept by the token handler as <see cref="Claim.ValueType"/>): a
    /// JSON boolean stays a boolean and a JSON number a number, so it compares with <c>true</c> or <c>5</c> in a policy.</summary>
    public static AttributeValue ClaimValue(Claim claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        switch (claim.ValueType)
        {
            case ClaimValueTypes.Boolean when bool.TryParse(claim.Value, out var boolean):
                return AttributeValue.FromBoolean(boolean);
            case ClaimValueTypes.Integer or ClaimValueTypes.Integer32 or ClaimValueTypes.Integer64 or ClaimValueTypes.UInteger32 or ClaimValueTypes.UInteger64 or ClaimValueTypes.Double
                when double.TryParse(claim.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number) && double.IsFinite(number):
                return AttributeValue.FromNumber(number);
            default:
                return AttributeValue.FromString(claim.Value);
        }
    }

    /// <summary>Reads the caller's identities from validated claims: <c>sub</c>, and <c>act.sub</c> when delegated.</summary>
    /// <returns>The identities, or <see langword="null"/> when the claims are not usable.</returns>
    public static CallerIdentity? ReadCaller(ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var subject = user.FindFirst("sub")?.Value;
        if (string.IsNullOrWhiteSpace(subject))
        {
            return null;
        }

        var claims = new AttributeSetBuilder();
        foreach (var claim in user.Claims.Where(static c => c.Type is "groups" or "roles"))
        {
            if (!string.IsNullOrWhiteSpace(claim.Value) && claim.Value.Length <= 256)
            {
                claims.Add(claim.Type, ClaimValue(claim));
            }
        }

        var subjectClaims = claims.Build();
        var act = user.FindFirst("act")?.Value;
        if (act is null)
        {
            return new CallerIdentity(subject) { SubjectClaims = subjectClaims };
        }

        try
        {
            using var document = JsonDocument.Parse(act);
            return document.RootElement.ValueKind == JsonValueKind.Object
                   && document.RootElement.TryGetProperty("sub", out var actor)
                   && actor.ValueKind == JsonValueKind.String
                   && !string.IsNullOrWhiteSpace(actor.GetString())
                ? new CallerIdentity(subject, actor.GetString()) { SubjectClaims = subjectClaims }
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
