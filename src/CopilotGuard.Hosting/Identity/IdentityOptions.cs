using Microsoft.Extensions.Options;

namespace CopilotGuard.Hosting.Identity;

/// <summary>How the server authenticates callers, bound from <c>CopilotGuard:Identity</c> and validated at start-up.</summary>
/// <remarks>
/// Two issuers are supported side by side. An OIDC issuer (Microsoft Entra ID or any other) is configured with
/// <see cref="Authority"/> (or <see cref="MetadataAddress"/>) and <see cref="Audiences"/>; its signing keys come from
/// its metadata document. The development issuer (a local key, tokens from <c>copilotguard token</c>) serves the
/// embedded default: it is refused when the environment is Production unless <see cref="AllowDevelopmentIssuer"/> is
/// <see langword="true"/>, which <c>copilotguard serve</c> sets when no OIDC authority is configured.
/// </remarks>
public sealed class CopilotGuardIdentityOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "CopilotGuard:Identity";

    /// <summary>Gets or sets whether the development issuer is accepted. The default (<see langword="null"/>) accepts
    /// it outside Production only.</summary>
    public bool? AllowDevelopmentIssuer { get; set; }

    /// <summary>Gets or sets the OIDC authority, e.g. <c>https://login.microsoftonline.com/{tenant}/v2.0</c>.</summary>
    public string? Authority { get; set; }

    /// <summary>Gets or sets the metadata document address. The default is the authority's
    /// <c>.well-known/openid-configuration</c>.</summary>
    public string? MetadataAddress { get; set; }

    /// <summary>Gets or sets the accepted audiences (e.g. <c>api://copilotguard</c> and the app's client id). Required with an authority.</summary>
    public IList<string> Audiences { get; set; } = [];

    /// <summary>Gets or sets the accepted issuers. The default is the issuer named by the metadata document.</summary>
    public IList<string> ValidIssuers { get; set; } = [];

    /// <summary>Gets or sets the accepted signing algorithms. The default is RS256, PS256 and ES256.</summary>
    public IList<string> ValidAlgorithms { get; set; } = ["RS256", "PS256", "ES256"];

    /// <summary>Gets or sets the allowed clock skew. The default is 2 minutes; at most 5 minutes.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Gets or sets the longest accepted token lifetime (expiry minus not-before). The default is 12 hours.</summary>
    public TimeSpan MaxTokenLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Gets or sets whether the metadata must be fetched over HTTPS. The default is <see langword="true"/>.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>Gets or sets the claim that holds the caller's stable directory id. The default is <c>sub</c>; use
    /// <c>oid</c> for Microsoft Entra ID, whose <c>sub</c> is pairwise per application.</summary>
    public string SubjectClaim { get; set; } = "sub";

    /// <summary>Gets or sets the issuers (<c>iss</c> values) whose tokens' <c>roles</c> claims may carry privileged roles
    /// (compliance-officer, security-admin, data-owner). The default is none: privileged roles come from the directory
    /// only, and a token claiming one is treated as if it did not (logged, and named in the refusal record).</summary>
    public IList<string> TrustedRoleIssuers { get; set; } = [];

    /// <summary>Gets whether an OIDC issuer is configured.</summary>
    public bool HasOidcIssuer => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(MetadataAddress);

    /// <summary>Decides whether the development issuer is accepted in an environment.</summary>
    public bool DevelopmentIssuerEnabled(IHostEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return AllowDevelopmentIssuer ?? !environment.IsProduction();
    }
}

/// <summary>Validates <see cref="CopilotGuardIdentityOptions"/> against the environment, reporting every problem at once.</summary>
internal sealed class CopilotGuardIdentityOptionsValidator(IHostEnvironment environment) : IValidateOptions<CopilotGuardIdentityOptions>
{
    public ValidateOptionsResult Validate(string? name, CopilotGuardIdentityOptions options)
    {
        var errors = new List<string>();
        var section = CopilotGuardIdentityOptions.Section;
        if (!options.HasOidcIssuer && !options.DevelopmentIssuerEnabled(environment))
        {
            errors.Add($"No token issuer is configured for the {environment.EnvironmentName} environment: set {section}:Authority (an OIDC issuer such as Microsoft Entra ID), or set {section}:AllowDevelopmentIssuer=true to accept development tokens (the embedded default; `copilotguard serve` does this).");
        }

        if (options.HasOidcIssuer)
        {
            foreach (var (field, value) in (ReadOnlySpan<(string, string?)>)[("Authority", options.Authority), ("MetadataAddress", options.MetadataAddress)])
            {
                if (!string.IsNullOrWhiteSpace(value) && (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (options.RequireHttpsMetadata && uri.Scheme != Uri.UriSchemeHttps)))
                {
                    errors.Add($"{section}:{field} must be an absolute {(options.RequireHttpsMetadata ? "https " : string.Empty)}URL.");
                }
            }

            if (options.Audiences.Count == 0 || options.Audiences.Any(string.IsNullOrWhiteSpace))
            {
                errors.Add($"{section}:Audiences must list at least one audience when an authority is configured.");
            }

            if (!options.RequireHttpsMetadata && environment.IsProduction())
            {
                errors.Add($"{section}:RequireHttpsMetadata cannot be false in Production.");
            }
        }

        if (options.ValidAlgorithms.Count == 0 || options.ValidAlgorithms.Any(static a => string.IsNullOrWhiteSpace(a) || a.Equals("none", StringComparison.OrdinalIgnoreCase) || a.StartsWith("HS", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add($"{section}:ValidAlgorithms must list asymmetric algorithms only (no 'none', no HS*).");
        }

        if (options.ClockSkew < TimeSpan.Zero || options.ClockSkew > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{section}:ClockSkew must be between 0 and 5 minutes.");
        }

        if (options.MaxTokenLifetime < TimeSpan.FromMinutes(1) || options.MaxTokenLifetime > TimeSpan.FromDays(1))
        {
            errors.Add($"{section}:MaxTokenLifetime must be between 1 minute and 1 day.");
        }

        if (options.TrustedRoleIssuers.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add($"{section}:TrustedRoleIssuers must not hold an empty issuer.");
        }

        if (string.IsNullOrWhiteSpace(options.SubjectClaim))
        {
            errors.Add($"{section}:SubjectClaim is required.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
