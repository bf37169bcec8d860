namespace CopilotGuard.Identity;

/// <summary>A check every request passes before any data is touched: kill switch, rate limits, anomaly responses.</summary>
/// <remarks>A gate refuses by throwing <see cref="GuardException"/> (<c>Forbidden</c> for a suspended
/// principal, <c>RateLimited</c> with <see cref="GuardException.RetryAfter"/>); it must fail closed when
/// its own state cannot be read.</remarks>
public interface IAccessGate
{
    /// <summary>Checks that the caller may make a request now, or throws.</summary>
    ValueTask CheckAsync(CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken);
}

/// <summary>What a gate knows about the request being checked.</summary>
/// <param name="Operation">The operation, e.g. <c>retrieve</c> or <c>policy-explain</c>.</param>
/// <param name="Purpose">The declared purpose.</param>
/// <param name="Destination">The declared (or defaulted) destination.</param>
public sealed record AccessRequest(string Operation, string? Purpose, string Destination)
{
    /// <summary>Gets the policy snapshot the request is decided with, so that a gate reading policy-like state (the
    /// agent registry) uses the same version as the rest of the request; <see langword="null"/> when the caller has none.</summary>
    public Policy.PolicySnapshot? Snapshot { get; init; }
}
