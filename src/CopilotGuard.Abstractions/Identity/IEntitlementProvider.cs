namespace CopilotGuard.Identity;

/// <summary>Resolves a principal's entitlement attributes from the system that owns them.</summary>
/// <remarks>Implementations must fail closed: an unknown principal yields <see langword="null"/>, an unreachable
/// source throws <see cref="EntitlementUnavailableException"/>. Neither may be turned into an empty grant.</remarks>
public interface IEntitlementProvider
{
    /// <summary>Resolves the principal with the given id, or returns <see langword="null"/> when it is unknown.</summary>
    ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken);
}

/// <summary>Thrown when entitlements cannot be resolved from their source; the request must get no data.</summary>
public sealed class EntitlementUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EntitlementUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public EntitlementUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public EntitlementUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
