using System.Collections.Concurrent;
using CopilotGuard.Audit;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Identity;

/// <summary>Limits for one kind of principal in one window.</summary>
public sealed class PrincipalRateLimit
{
    /// <summary>Gets or sets how many requests a principal may make per window.</summary>
    public int RequestsPerWindow { get; set; }

    /// <summary>Gets or sets how much label-weighted chunk volume a principal may receive per window.</summary>
    public double ChunkWeightPerWindow { get; set; }
}

/// <summary>Rate limits per principal and per agent: requests and label-weighted returned chunks per window.</summary>
/// <remarks>The defaults are generous ceilings that stop runaway callers; anomaly detection watches for subtler
/// changes. Counters live in each instance's memory, so behind a load balancer of N instances a caller can reach up
/// to N times the limit; the kill switch, which lives in the shared store, is the cross-instance stop.</remarks>
public sealed class RateLimitOptions
{
    /// <summary>Gets or sets whether rate limits are enforced. The default is <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets the fixed window the limits count over. The default is one minute.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets the limits of users and services. The default is 300 requests and a weight of 20,000.</summary>
    public PrincipalRateLimit Principal { get; set; } = new() { RequestsPerWindow = 300, ChunkWeightPerWindow = 20_000 };

    /// <summary>Gets or sets the limits of each agent, summed over every user it acts for. The default is 600 requests
    /// and a weight of 40,000.</summary>
    public PrincipalRateLimit Agent { get; set; } = new() { RequestsPerWindow = 600, ChunkWeightPerWindow = 40_000 };

    /// <summary>Gets or sets limits for named principals, replacing the kind's limits.</summary>
    public IDictionary<string, PrincipalRateLimit> Overrides { get; set; } = new Dictionary<string, PrincipalRateLimit>(StringComparer.Ordinal);

    /// <summary>Gets or sets the weight of one returned chunk per label. The default is Public 0.5, General 1,
    /// Confidential 2, Highly Confidential 4.</summary>
    public IDictionary<string, double> LabelWeights { get; set; } = DefaultLabelWeights();

    /// <summary>Gets or sets the weight of a chunk whose label is not in <see cref="LabelWeights"/>. The default is 4.</summary>
    public double UnknownLabelWeight { get; set; } = 4;

    /// <summary>Creates the default label weights.</summary>
    public static Dictionary<string, double> DefaultLabelWeights() => new(StringComparer.Ordinal)
    {
        ["Public"] = 0.5,
        ["General"] = 1,
        ["Confidential"] = 2,
        ["Highly Confidential"] = 4,
    };
}

/// <summary>Validates <see cref="RateLimitOptions"/>, reporting every problem at once.</summary>
public sealed class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, RateLimitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.Window < TimeSpan.FromSeconds(1) || options.Window > TimeSpan.FromDays(1))
        {
            errors.Add($"RateLimits:Window must be between 1 second and 1 day, not {options.Window}.");
        }

        Check("Principal", options.Principal, errors);
        Check("Agent", options.Agent, errors);
        foreach (var (principal, limit) in options.Overrides)
        {
            Check($"Overrides:{principal}", limit, errors);
        }

        foreach (var (label, weight) in options.LabelWeights)
        {
            if (!double.IsFinite(weight) || weight < 0)
            {
                errors.Add($"RateLimits:LabelWeights:{label} must be a finite number >= 0.");
            }
        }

        if (!double.IsFinite(options.UnknownLabelWeight) || options.UnknownLabelWeight < 0)
        {
            errors.Add("RateLimits:UnknownLabelWeight must be a finite number >= 0.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(string name, PrincipalRateLimit? limit, List<string> errors)
    {
        if (limit is null)
        {
            errors.Add($"RateLimits:{name} is required.");
            return;
        }

        if (limit.RequestsPerWindow < 1)
        {
            errors.Add($"RateLimits:{name}:RequestsPerWindow must be at least 1.");
        }

        if (!double.IsFinite(limit.ChunkWeightPerWindow) || limit.ChunkWeightPerWindow <= 0)
        {
            errors.Add($"RateLimits:{name}:ChunkWeightPerWindow must be a finite number > 0.");
        }
    }
}

/// <summary>Enforces <see cref="RateLimitOptions"/>: counts requests at the gate and returned chunk weight from audit records.</summary>
/// <remarks>Refuses with <see cref="GuardErrorKind.RateLimited"/> and the time left in the window as Retry-After.
/// A delegated request counts for both the user and the agent.</remarks>
public sealed class RateLimiter : IAccessGate, IRetrievalObserver
{
    private const int PruneThreshold = 10_000;
    private readonly RateLimitOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    /// <summary>Creates the limiter.</summary>
    public RateLimiter(IOptions<RateLimitOptions> options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public ValueTask CheckAsync(CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (!_options.Enabled)
        {
            return ValueTask.CompletedTask;
        }

        var (window, retryAfter) = CurrentWindow();
        var principals = caller.Actor is null ? [caller.Subject] : new[] { caller.Subject, caller.Actor };
        foreach (var principal in principals)
        {
            var limit = LimitFor(principal);
            var counter = CounterFor(principal.Id);
            lock (counter)
            {
                counter.Roll(window);
                if (counter.Requests >= limit.RequestsPerWindow)
                {
                    throw Refuse(principal, $"{limit.RequestsPerWindow} requests", retryAfter);
                }

                if (counter.Weight >= limit.ChunkWeightPerWindow)
                {
                    throw Refuse(principal, $"a label-weighted volume of {limit.ChunkWeightPerWindow}", retryAfter);
                }
            }
        }

        foreach (var principal in principals)
        {
            var counter = CounterFor(principal.Id);
            lock (counter)
            {
                counter.Roll(window);
                counter.Requests++;
            }
        }

        Prune(window);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask OnRecordedAsync(AuditRecord record, CallerPrincipals caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(caller);
        if (!_options.Enabled || record.Chunks.IsDefaultOrEmpty)
        {
            return ValueTask.CompletedTask;
        }

        var weight = record.Chunks.Sum(chunk => _options.LabelWeights.TryGetValue(chunk.Label, out var w) ? w : _options.UnknownLabelWeight);
        var (window, _) = CurrentWindow();
        foreach (var principal in caller.Actor is null ? [caller.Subject] : new[] { caller.Subject, caller.Actor })
        {
            var counter = CounterFor(principal.Id);
            lock (counter)
            {
                counter.Roll(window);
                counter.Weight += weight;
            }
        }

        return ValueTask.CompletedTask;
    }

    private static GuardException Refuse(Principal principal, string what, TimeSpan retryAfter) => new(
        GuardErrorKind.RateLimited,
        $"{(principal.Kind == PrincipalKind.Agent ? "Agent" : "Principal")} '{principal.Id}' reached its limit of {what} per window; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s.")
    {
        RetryAfter = retryAfter,
    };

    private PrincipalRateLimit LimitFor(Principal principal) =>
        _options.Overrides.TryGetValue(principal.Id, out var limit) ? limit
        : principal.Kind == PrincipalKind.Agent ? _options.Agent : _options.Principal;

    private Counter CounterFor(string principalId) => _counters.GetOrAdd(principalId, static _ => new Counter());

    private (long Window, TimeSpan RetryAfter) CurrentWindow()
    {
        var now = _time.GetUtcNow().UtcTicks;
        var window = now / _options.Window.Ticks;
        return (window, TimeSpan.FromTicks(((window + 1) * _options.Window.Ticks) - now));
    }

    private void Prune(long window)
    {
        if (_counters.Count < PruneThreshold)
        {
            return;
        }

        foreach (var (id, counter) in _counters)
        {
            if (Volatile.Read(ref counter.Window) < window)
            {
                _counters.TryRemove(id, out _);
            }
        }
    }

    private sealed class Counter
    {
        public long Window;
        public int Requests;
        public double Weight;

        public void Roll(long window)
        {
            if (Window != window)
            {
                Window = window;
                Requests = 0;
                Weight = 0;
            }
        }
    }
}
