using System.Security.Claims;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Hosting.Identity;

/// <summary>The HTTP handler the OIDC metadata and signing keys are fetched through, when not the network's.</summary>
/// <param name="Handler">The handler, e.g. an in-process metadata document in tests.</param>
public sealed record OidcBackchannel(HttpMessageHandler Handler);

/// <summary>Registers bearer authentication: an OIDC issuer (Microsoft Entra ID or any other) and the development issuer.</summary>
internal static class CopilotGuardAuthentication
{
    /// <summary>The scheme that picks the issuer's scheme for each request.</summary>
    public const string Scheme = "CopilotGuard";

    /// <summary>The development issuer's scheme.</summary>
    public const string DevelopmentScheme = "Development";

    /// <summary>The OIDC issuer's scheme.</summary>
    public const string OidcScheme = "Oidc";

    /// <summary>Adds bearer authentication configured from <c>CopilotGuard:Identity</c>, validated at start-up.</summary>
    /// <remarks>A token is sent to the development scheme only when that issuer is enabled and the token names it as
    /// issuer; every other token is validated against the OIDC issuer. In Production the development issuer is
    /// refused unless <see cref="CopilotGuardIdentityOptions.AllowDevelopmentIssuer"/> is set.</remarks>
    public static IServiceCollection AddCopilotGuardAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddSingleton<IValidateOptions<CopilotGuardIdentityOptions>, CopilotGuardIdentityOptionsValidator>();
        services.AddOptions<CopilotGuardIdentityOptions>().Bind(configuration.GetSection(CopilotGuardIdentityOptions.Section)).ValidateOnStart();

        services
            .AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "CopilotGuard bearer", _ => { })
            .AddJwtBearer(DevelopmentScheme, UseCachingTokenHandler)
            .AddJwtBearer(OidcScheme, _ => { });

        services.AddOptions<JwtBearerOptions>(DevelopmentScheme)
            .Configure<IOptions<CopilotGuardIdentityOptions>, IServiceProvider>((options, identityOptions, provider) =>
            {
                var identity = identityOptions.Value;
                // The issuer's key lives in the data folder the runtime opened when the host started.
                options.TokenValidationParameters = provider.GetRequiredService<DevelopmentIssuer>().ValidationParameters;
                options.Events = new JwtBearerEvents
                {
                    OnChallenge = ProblemExceptionHandler.WriteChallengeAsync,
                    OnTokenValidated = context =>
                    {
                        TokenRoles.OnTokenValidated(context, identity);
                        return Task.CompletedTask;
                    },
                };
            });

        services.AddOptions<Microsoft.AspNetCore.Authentication.PolicySchemeOptions>(Scheme)
            .Configure<IOptions<CopilotGuardIdentityOptions>, IHostEnvironment>((options, identity, environment) =>
            {
                var oidc = identity.Value.HasOidcIssuer;
                var development = identity.Value.DevelopmentIssuerEnabled(environment);
                options.ForwardDefaultSelector = context => SelectScheme(context, oidc, development);
            });

        services.AddOptions<JwtBearerOptions>(OidcScheme)
            .Configure<IOptions<CopilotGuardIdentityOptions>, IServiceProvider>((options, identityOptions, provider) =>
            {
                var identity = identityOptions.Value;
                UseCachingTokenHandler(options);
                options.Authority = string.IsNullOrWhiteSpace(identity.Authority) ? null : identity.Authority;
                options.MetadataAddress = string.IsNullOrWhiteSpace(identity.MetadataAddress) ? null! : identity.MetadataAddress;
                options.RequireHttpsMetadata = identity.RequireHttpsMetadata;
                options.RefreshOnIssuerKeyNotFound = true;
                if (provider.GetService<OidcBackchannel>() is { } backchannel)
                {
                    options.BackchannelHttpHandler = backchannel.Handler;
                }

                options.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidAudiences = [.. identity.Audiences],
                    ValidIssuers = identity.ValidIssuers.Count > 0 ? [.. identity.ValidIssuers] : null,
                    ValidAlgorithms = [.. identity.ValidAlgorithms],
                    RequireSignedTokens = true,
                    RequireExpirationTime = true,
                    ValidateIssuer = true,
                    ValidateAudience = true,
                    ValidateLifetime = true,
                    ValidateIssuerSigningKey = true,
                    ClockSkew = identity.ClockSkew,
                    NameClaimType = "sub",
                };
                options.Events = new JwtBearerEvents
                {
                    OnChallenge = ProblemExceptionHandler.WriteChallengeAsync,
                    OnTokenValidated = context => OnOidcTokenValidated(context, identity),
                };
            });
        return services;
    }

    /// <summary>Validates with a <see cref="CachingTokenHandler"/> that keeps the token's claim names as issued.</summary>
    private static void UseCachingTokenHandler(JwtBearerOptions options)
    {
        options.MapInboundClaims = false;
        options.TokenHandlers.Clear();
        options.TokenHandlers.Add(new CachingTokenHandler { MapInboundClaims = false });
    }

    private static string SelectScheme(HttpContext context, bool oidc, bool development)
    {
        if (!oidc)
        {
            return DevelopmentScheme;
        }

        if (!development)
        {
            return OidcScheme;
        }

        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return OidcScheme;
        }

        try
        {
            return new JsonWebToken(header["Bearer ".Length..].Trim()).Issuer == DevelopmentIssuer.Issuer ? DevelopmentScheme : OidcScheme;
        }
        catch (ArgumentException)
        {
            return OidcScheme;
        }
    }

    private static Task OnOidcTokenValidated(TokenValidatedContext context, CopilotGuardIdentityOptions identity)
    {
        TokenRoles.OnTokenValidated(context, identity);
        if (context.Result is { Failure: not null })
        {
            return Task.CompletedTask;
        }

        if (identity.SubjectClaim != "sub" && context.Principal is { } principal)
        {
            var subject = principal.FindFirst(identity.SubjectClaim)?.Value;
            if (string.IsNullOrWhiteSpace(subject))
            {
                context.Fail($"The token has no '{identity.SubjectClaim}' claim.");
                return Task.CompletedTask;
            }

            var claims = principal.Claims.Where(static c => c.Type != "sub").Append(new Claim("sub", subject));
            context.Principal = new ClaimsPrincipal(new ClaimsIdentity(claims, principal.Identity?.AuthenticationType, "sub", "roles"));
        }

        return Task.CompletedTask;
    }
}
