using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Hosting;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Hosting.Identity;

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

    /// <summary>The lifetime of a token minted without one.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(8);

    /// <summary>Mints a token for a user, optionally with an agent acting for it.</summary>
    /// <param name="subject">The user (directory id).</param>
    /// <param name="actor">The agent acting for the user, if any.</param>
    /// <param name="lifetime">The lifetime; the default is <see cref="DefaultLifetime"/>.</param>
    /// <param name="now">The issue time; the default is now.</param>
    /// <param name="extraClaims">More claims (e.g. <c>roles</c>).</param>
    /// <param name="maxLifetime">The longest lifetime accepted, as the server's <c>CopilotGuard:Identity:MaxTokenLifetime</c>
    /// (12 hours by default): the development issuer obeys the same cap as any issuer.</param>
    /// <exception cref="ArgumentOutOfRangeException">The lifetime is not positive or exceeds <paramref name="maxLifetime"/>.</exception>
    public string CreateToken(string subject, string? actor = null, TimeSpan? lifetime = null, DateTimeOffset? now = null, IReadOnlyDictionary<string, string[]>? extraClaims = null, TimeSpan? maxLifetime = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        var span = lifetime ?? DefaultLifetime;
        var max = maxLifetime ?? new CopilotGuardIdentityOptions().MaxTokenLifetime;
        if (span <= TimeSpan.Zero || span > max)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), span, LifetimeMessage(span, max));
        }

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
            Expires = issuedAt + span,
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>Mints a token with exactly the given claims besides issuer, audience and times (for tools and tests that
    /// need shapes <see cref="CreateToken(string, string?, TimeSpan?, DateTimeOffset?, IReadOnlyDictionary{string, string[]}?, TimeSpan?)"/>
    /// does not make, e.g. an <c>act</c> array). The lifetime cap applies the same way.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The lifetime is not positive or exceeds <paramref name="maxLifetime"/>.</exception>
    public string CreateTokenWithClaims(IReadOnlyDictionary<string, object> claims, TimeSpan? lifetime = null, TimeSpan? maxLifetime = null)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var span = lifetime ?? DefaultLifetime;
        var max = maxLifetime ?? new CopilotGuardIdentityOptions().MaxTokenLifetime;
        if (span <= TimeSpan.Zero || span > max)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), span, LifetimeMessage(span, max));
        }

        var issuedAt = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = claims.ToDictionary(static p => p.Key, static p => p.Value, StringComparer.Ordinal),
            IssuedAt = issuedAt,
            NotBefore = issuedAt,
            Expires = issuedAt + span,
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>Says why a token lifetime is refused.</summary>
    public static string LifetimeMessage(TimeSpan lifetime, TimeSpan max) =>
        lifetime <= TimeSpan.Zero
            ? "The token lifetime must be positive."
            : $"A token lifetime of {lifetime.TotalHours:0.##} hours exceeds the accepted maximum of {max.TotalHours:0.##} hours (CopilotGuard:Identity:MaxTokenLifetime); the server would refuse the token.";

    /// <summary>The longest principal id (<c>sub</c>, <c>act.sub</c>) a token may carry.</summary>
    public const int MaxPrincipalIdLength = 256;

    /// <summary>The message for a validated token that names no usable caller.</summary>
    public const string MissingCallerMessage = "The token does not name exactly one caller (sub, at most 256 characters) or has a malformed act claim (one object with a sub; an array of actors is refused).";

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
        var subjects = user.FindAll("sub").Take(2).ToList();
        if (subjects.Count != 1 || string.IsNullOrWhiteSpace(subjects[0].Value) || subjects[0].Value.Length > MaxPrincipalIdLength)
        {
            return null;
        }

        var subject = subjects[0].Value;
        var claims = new AttributeSetBuilder();
        foreach (var claim in user.Claims.Where(static c => c.Type is "groups" or "roles"))
        {
            if (!string.IsNullOrWhiteSpace(claim.Value) && claim.Value.Length <= 256)
            {
                claims.Add(claim.Type, ClaimValue(claim));
            }
        }

        var subjectClaims = claims.Build();

        // An act claim that is an array (several actors) arrives as several claims: refused, never cut to the first.
        var acts = user.FindAll("act").Take(2).ToList();
        if (acts.Count == 0)
        {
            return new CallerIdentity(subject) { SubjectClaims = subjectClaims };
        }

        return acts.Count == 1 && ReadActor(acts[0].Value) is { Length: <= MaxPrincipalIdLength } actor
            ? new CallerIdentity(subject, actor) { SubjectClaims = subjectClaims }
            : null;
    }

    /// <summary>Reads the agent of one <c>act</c> claim value: a JSON object with a non-empty string <c>sub</c>.</summary>
    /// <returns>The agent id, or <see langword="null"/> when the value is malformed.</returns>
    public static string? ReadActor(string act)
    {
        ArgumentNullException.ThrowIfNull(act);
        try
        {
            using var document = JsonDocument.Parse(act);
            return document.RootElement.ValueKind == JsonValueKind.Object
                   && document.RootElement.TryGetProperty("sub", out var actor)
                   && actor.ValueKind == JsonValueKind.String
                   && !string.IsNullOrWhiteSpace(actor.GetString())
                ? actor.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
