using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CopilotGuard.Hosting.Identity;

/// <summary>A JSON web token handler that remembers tokens it has fully validated, so a client that sends the same
/// bearer token on every request pays for the signature check once, not on every call.</summary>
/// <remarks>
/// <para>Only successful validations are remembered, keyed by the exact token text (any change to header, payload or
/// signature is a different key), and only until the token's own expiry or <see cref="MaxAge"/>, whichever comes
/// first. Failures are never cached, so a bad token is re-checked
/// every time. Each hit returns a copy of the claims identity, so one request's claims changes never reach another.</para>
/// <para>What is not re-checked on a hit is only what the full check already established: signature, issuer,
/// audience and lifetime. Authorization (directory, suspension, policy) runs on every request as before. After a
/// signing key is withdrawn, a token validated with it stays accepted for at most <see cref="MaxAge"/>.</para>
/// </remarks>
/// <param name="time">The clock entries expire by; the system clock when null.</param>
internal sealed class CachingTokenHandler(TimeProvider? time = null) : JsonWebTokenHandler
{
    /// <summary>The longest a validation is reused.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, Entry> _validated = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        ArgumentNullException.ThrowIfNull(validationParameters);
        var now = _time.GetUtcNow();
        if (token is not null && _validated.TryGetValue(token, out var entry))
        {
            if (now < entry.Until)
            {
                return new TokenValidationResult
                {
                    IsValid = true,
                    SecurityToken = entry.Token,
                    ClaimsIdentity = entry.Identity.Clone(),
                    Issuer = entry.Issuer,
                    TokenType = entry.TokenType,
                };
            }

            _validated.TryRemove(token, out _);
        }

        var result = await base.ValidateTokenAsync(token, validationParameters).ConfigureAwait(false);
        if (result.IsValid && token is not null && result.SecurityToken is { } validated)
        {
            var until = new DateTimeOffset(DateTime.SpecifyKind(validated.ValidTo, DateTimeKind.Utc));
            if (until > now + MaxAge)
            {
                until = now + MaxAge;
            }

            if (until > now)
            {
                if (_validated.Count >= MaxEntries)
                {
                    _validated.Clear();
                }

                // A private copy: the caller may change the identity it was given.
                _validated[token] = new Entry(validated, result.ClaimsIdentity.Clone(), result.Issuer, result.TokenType, until);
            }
        }

        return result;
    }

    private sealed record Entry(SecurityToken Token, System.Security.Claims.ClaimsIdentity Identity, string Issuer, string TokenType, DateTimeOffset Until);
}
