using System.Security.Claims;
using CopilotGuard.Hosting.Admin;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Hosting.Identity;

/// <summary>Keeps privileged roles where they are trusted: the directory, or an issuer explicitly listed in
/// <see cref="CopilotGuardIdentityOptions.TrustedRoleIssuers"/>. A token's <c>roles</c> claim values that name a
/// privileged role from any other issuer are removed before the request is authorized, and the removal is logged and
/// named in the request's refusal record.</summary>
internal static partial class TokenRoles
{
    /// <summary>The key, in <see cref="HttpContext.Items"/>, of the roles removed from the request's token (comma-separated).</summary>
    public const string IgnoredItem = "CopilotGuard.IgnoredTokenRoles";

    /// <summary>The roles that grant access to the audit log, the kill switch, others' policy views or label changes.</summary>
    public static readonly IReadOnlySet<string> Privileged = new HashSet<string>(
        ["compliance-officer", AdminApi.SecurityAdminRole, "data-owner"],
        StringComparer.Ordinal);

    /// <summary>Validates the token's lifetime against <see cref="CopilotGuardIdentityOptions.MaxTokenLifetime"/> and
    /// removes the privileged roles an untrusted issuer claims; used by every issuer's scheme.</summary>
    public static void OnTokenValidated(TokenValidatedContext context, CopilotGuardIdentityOptions identity)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(identity);
        if (context.SecurityToken is JsonWebToken token)
        {
            var start = token.ValidFrom != DateTime.MinValue ? token.ValidFrom : token.IssuedAt;
            if (start == DateTime.MinValue || token.ValidTo - start > identity.MaxTokenLifetime)
            {
                context.Fail(new SecurityTokenInvalidLifetimeException($"The token's lifetime exceeds the accepted maximum of {identity.MaxTokenLifetime}."));
                return;
            }
        }

        if (context.Principal is not { } principal)
        {
            return;
        }

        var issuer = (context.SecurityToken as JsonWebToken)?.Issuer ?? string.Empty;
        if (identity.TrustedRoleIssuers.Contains(issuer, StringComparer.Ordinal))
        {
            return;
        }

        var ignored = principal.Claims.Where(static c => c.Type == "roles" && Privileged.Contains(c.Value)).Select(static c => c.Value).Distinct(StringComparer.Ordinal).ToList();
        if (ignored.Count == 0)
        {
            return;
        }

        var identityType = principal.Identity?.AuthenticationType;
        var kept = principal.Claims.Where(static c => !(c.Type == "roles" && Privileged.Contains(c.Value)));
        context.Principal = new ClaimsPrincipal(new ClaimsIdentity(kept, identityType, "sub", "roles"));
        var list = string.Join(',', ignored);
        context.HttpContext.Items[IgnoredItem] = list;
        var logger = context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TokenRoles));
        LogIgnored(logger, list, issuer.Length <= 256 ? issuer : issuer[..256]);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored the privileged roles {Roles} claimed by a token of issuer {Issuer}: privileged roles come from the directory or a trusted role issuer (CopilotGuard:Identity:TrustedRoleIssuers).")]
    private static partial void LogIgnored(ILogger logger, string roles, string issuer);
}
