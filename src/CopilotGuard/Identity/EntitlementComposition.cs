using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Identity;

/// <summary>How a provider takes part in a composition.</summary>
public enum EntitlementSourceRole
{
    /// <summary>The provider must know the principal: when it answers "unknown" (e.g. a deleted user), the principal is unknown.</summary>
    Authoritative,

    /// <summary>The provider adds attributes when it knows the principal and is ignored when it does not.</summary>
    Supplemental,
}

/// <summary>One provider of a composition.</summary>
/// <param name="Provider">The provider.</param>
/// <param name="Role">Whether it is authoritative or supplemental.</param>
/// <param name="AppliesTo">Which principal ids it is asked about; <see langword="null"/> means all.</param>
public sealed record EntitlementSource(IEntitlementProvider Provider, EntitlementSourceRole Role, Func<string, bool>? AppliesTo = null);

/// <summary>Composes providers (YAML directory, Microsoft Graph, ...) behind one <see cref="IEntitlementProvider"/>.</summary>
/// <remarks>Providers are asked in order. The first one that knows the principal sets its kind and display name;
/// attributes of later providers replace same-named attributes of earlier ones. Any provider failure fails the whole
/// resolution (fail closed): a partial set of entitlements is never returned.</remarks>
public sealed class CompositeEntitlementProvider : IEntitlementProvider
{
    private readonly EntitlementSource[] _sources;

    /// <summary>Creates the composition.</summary>
    public CompositeEntitlementProvider(IEnumerable<EntitlementSource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        _sources = [.. sources];
        if (_sources.Length == 0)
        {
            throw new ArgumentException("At least one entitlement source is required.", nameof(sources));
        }
    }

    /// <inheritdoc />
    public async ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken)
    {
        Principal? merged = null;
        foreach (var source in _sources)
        {
            if (source.AppliesTo is not null && !source.AppliesTo(principalId))
            {
                continue;
            }

            var principal = await source.Provider.ResolveAsync(principalId, cancellationToken).ConfigureAwait(false);
            if (principal is null)
            {
                if (source.Role == EntitlementSourceRole.Authoritative)
                {
                    return null;
                }

                continue;
            }

            if (merged is null)
            {
                merged = principal;
                continue;
            }

            var attributes = merged.Attributes;
            foreach (var (name, values) in principal.Attributes)
            {
                if (name is not "id" and not "kind")
                {
                    attributes = attributes.With(name, values);
                }
            }

            merged = merged with { Attributes = attributes };
        }

        return merged;
    }
}

/// <summary>Settings of the entitlement cache.</summary>
public sealed class EntitlementCacheOptions
{
    /// <summary>Gets or sets how long a resolved principal is served without asking its source again. The default is 5 minutes.</summary>
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how old a cached principal may be when its source fails; past it the request fails closed.
    /// The default is 15 minutes.</summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Gets or sets how many principals are cached. The default is 10,000.</summary>
    public int MaxEntries { get; set; } = 10_000;
}

/// <summary>Validates <see cref="EntitlementCacheOptions"/>.</summary>
public sealed class EntitlementCacheOptionsValidator : IValidateOptions<EntitlementCacheOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, EntitlementCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.TimeToLive < TimeSpan.Zero || options.TimeToLive > TimeSpan.FromHours(1))
        {
            errors.Add("EntitlementCache:TimeToLive must be between 0 and 1 hour.");
        }

        if (options.MaxStaleness < options.TimeToLive || options.MaxStaleness > TimeSpan.FromDays(1))
        {
            errors.Add("EntitlementCache:MaxStaleness must be at least TimeToLive and at most 1 day.");
        }

        if (options.MaxEntries < 1)
        {
            errors.Add("EntitlementCache:MaxEntries must be at least 1.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Caches a provider's answers per principal and policy version, with a time to live and a maximum staleness.</summary>
/// <remarks>Within the time to live the cached principal is served. After it the source is asked again; when the
/// source fails the cached principal is served only while it is younger than the maximum staleness, and after that
/// <see cref="EntitlementUnavailableException"/> is thrown (the broker answers 503 and releases no data). An
/// "unknown principal" answer is cached too (for the time to live only). Keys include the policy version, so nothing
/// computed under an earlier policy is reused.</remarks>
public sealed class CachingEntitlementProvider : IEntitlementProvider
{
    private readonly IEntitlementProvider _inner;
    private readonly string _policyVersion;
    private readonly EntitlementCacheOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Creates the cache over a provider.</summary>
    public CachingEntitlementProvider(IEntitlementProvider inner, string policyVersion, IOptions<EntitlementCacheOptions> options, TimeProvider? time = null)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        ArgumentException.ThrowIfNullOrEmpty(policyVersion);
        ArgumentNullException.ThrowIfNull(options);
        _policyVersion = policyVersion;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public async ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(principalId);
        var key = _policyVersion + "\n" + principalId;
        var now = _time.GetUtcNow();
        _entries.TryGetValue(key, out var cached);
        if (cached is not null && now - cached.Resolved < _options.TimeToLive)
        {
            return cached.Principal;
        }

        try
        {
            var principal = await _inner.ResolveAsync(principalId, cancellationToken).ConfigureAwait(false);
            if (_entries.Count >= _options.MaxEntries)
            {
                Evict(now);
            }

            _entries[key] = new Entry(principal, now);
            return principal;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (cached?.Principal is not null && now - cached.Resolved <= _options.MaxStaleness)
            {
                return cached.Principal;
            }

            var age = cached is null ? "no cached entitlements" : $"cached entitlements are {(now - cached.Resolved).TotalSeconds:0} s old (maximum staleness {_options.MaxStaleness.TotalSeconds:0} s)";
            throw exception as EntitlementUnavailableException
                ?? new EntitlementUnavailableException($"The entitlement source failed and {age}.", exception);
        }
    }

    private void Evict(DateTimeOffset now)
    {
        foreach (var (key, entry) in _entries)
        {
            if (now - entry.Resolved > _options.MaxStaleness || _entries.Count >= _options.MaxEntries)
            {
                _entries.TryRemove(key, out _);
            }
        }
    }

    private sealed record Entry(Principal? Principal, DateTimeOffset Resolved);
}
