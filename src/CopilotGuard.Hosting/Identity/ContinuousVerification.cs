using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Identity;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Hosting.Identity;

/// <summary>The settings of continuous verification, bound from <c>CopilotGuard:RateLimits</c>,
/// <c>CopilotGuard:Anomaly</c> and <c>CopilotGuard:EntitlementCache</c>.</summary>
public sealed class ContinuousVerificationSettings
{
    /// <summary>Gets or sets the rate limits.</summary>
    public RateLimitOptions RateLimits { get; set; } = new();

    /// <summary>Gets or sets the anomaly detection settings.</summary>
    public AnomalyOptions Anomaly { get; set; } = new();

    /// <summary>Gets or sets the entitlement cache settings (used when a remote entitlement source is configured).</summary>
    public EntitlementCacheOptions EntitlementCache { get; set; } = new();

    /// <summary>Gets or sets a remote entitlement source (Microsoft Graph) composed after the directory and cached;
    /// <see langword="null"/> uses the directory alone.</summary>
    public EntitlementSource? Remote { get; set; }

    /// <summary>Binds the settings from configuration and validates them, reporting every problem at once.</summary>
    /// <exception cref="OptionsValidationException">A setting is invalid.</exception>
    public static ContinuousVerificationSettings Bind(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var settings = new ContinuousVerificationSettings();
        configuration.GetSection("CopilotGuard:RateLimits").Bind(settings.RateLimits);
        configuration.GetSection("CopilotGuard:Anomaly").Bind(settings.Anomaly);
        configuration.GetSection("CopilotGuard:EntitlementCache").Bind(settings.EntitlementCache);
        settings.Validate();
        return settings;
    }

    /// <summary>Validates the settings, reporting every problem at once.</summary>
    /// <exception cref="OptionsValidationException">A setting is invalid.</exception>
    public void Validate()
    {
        var failures = new List<string>();
        foreach (var result in (ReadOnlySpan<ValidateOptionsResult>)[
            new RateLimitOptionsValidator().Validate(null, RateLimits),
            new AnomalyOptionsValidator().Validate(null, Anomaly),
            new EntitlementCacheOptionsValidator().Validate(null, EntitlementCache)])
        {
            if (result.Failed)
            {
                failures.AddRange(result.Failures);
            }
        }

        if (failures.Count > 0)
        {
            throw new OptionsValidationException("CopilotGuard", typeof(ContinuousVerificationSettings), failures);
        }
    }
}

/// <summary>The zero-trust parts of the embedded default: agent registry, kill switch, rate limits and anomaly
/// responses, as gates and observers of the broker.</summary>
public sealed class ContinuousVerification : IDisposable
{
    /// <summary>The agent registry file name in the data folder.</summary>
    public const string AgentsFileName = "agents.yaml";

    /// <summary>The principal state database file name in the data folder.</summary>
    public const string StateFileName = "principals.db";

    private readonly PolicySnapshotHolder _policy;

    private ContinuousVerification(
        PolicySnapshotHolder policy,
        SqlitePrincipalStateStore state,
        KillSwitch killSwitch,
        RateLimiter rateLimiter,
        AnomalyDetector detector,
        AnomalyResponder anomalies)
    {
        _policy = policy;
        State = state;
        KillSwitch = killSwitch;
        RateLimiter = rateLimiter;
        Detector = detector;
        Anomalies = anomalies;
        SuspensionGate = new SuspensionGate(state);
        Gates = [SuspensionGate, new AgentRegistryGate(policy), anomalies, rateLimiter];
        Observers = [rateLimiter, anomalies];
    }

    /// <summary>Gets the agent registry of the current policy snapshot.</summary>
    public AgentRegistry Agents => _policy.Current.Agents ?? AgentRegistry.Empty;

    /// <summary>Gets the principal state store (suspensions).</summary>
    public SqlitePrincipalStateStore State { get; }

    /// <summary>Gets the kill switch.</summary>
    public KillSwitch KillSwitch { get; }

    /// <summary>Gets the suspension gate.</summary>
    public SuspensionGate SuspensionGate { get; }

    /// <summary>Gets the entitlement provider the broker resolves principals with (directory narrowed by the agent
    /// registry) in the current policy snapshot.</summary>
    public IEntitlementProvider Entitlements => _policy.Current.Entitlements;

    /// <summary>Gets the rate limiter.</summary>
    public RateLimiter RateLimiter { get; }

    /// <summary>Gets the anomaly detector.</summary>
    public AnomalyDetector Detector { get; }

    /// <summary>Gets the anomaly responder.</summary>
    public AnomalyResponder Anomalies { get; }

    /// <summary>Gets the gates, in the order the broker runs them.</summary>
    public IReadOnlyList<IAccessGate> Gates { get; }

    /// <summary>Gets the observers of audit records.</summary>
    public IReadOnlyList<IRetrievalObserver> Observers { get; }

    /// <summary>Creates the parts over a data folder and the holder of the policy snapshot (whose agent registry,
    /// entitlements and version they read per request; see <see cref="LoadAgentsAsync"/> and <see cref="ComposeEntitlements"/>).</summary>
    /// <param name="data">The data folder.</param>
    /// <param name="policy">The holder of the current policy snapshot.</param>
    /// <param name="store">The chunk store (to learn returned chunks' sources).</param>
    /// <param name="audit">The audit log.</param>
    /// <param name="settings">The settings, or the defaults.</param>
    /// <param name="loggerFactory">Creates loggers.</param>
    /// <param name="time">The clock.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    public static async Task<ContinuousVerification> OpenAsync(
        DataFolder data,
        PolicySnapshotHolder policy,
        IChunkStore store,
        IAuditLog audit,
        ContinuousVerificationSettings? settings = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? time = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(policy);
        settings ??= new ContinuousVerificationSettings();
        settings.Validate();
        time ??= TimeProvider.System;
        var state = new SqlitePrincipalStateStore(Path.Combine(data.Root, StateFileName));
        await state.InitializeAsync(cancellationToken).ConfigureAwait(false);
        var killSwitch = new KillSwitch(state, audit, policy, time);
        var detector = new AnomalyDetector(settings.Anomaly);
        var anomalies = new AnomalyResponder(detector, killSwitch, audit, policy, AnomalyResponder.StoreSourceLookup(store), time, loggerFactory?.CreateLogger<AnomalyResponder>());
        return new ContinuousVerification(
            policy,
            state,
            killSwitch,
            new RateLimiter(Options.Create(settings.RateLimits), time),
            detector,
            anomalies);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Anomalies.Dispose();
        State.Dispose();
    }

    /// <summary>Reads the data folder's agent registry, copying the sample registry into a seeded folder that has none;
    /// a folder without one registers no agent.</summary>
    /// <exception cref="PolicyValidationException">The agent registry is invalid.</exception>
    public static async Task<AgentRegistry> LoadAgentsAsync(DataFolder data, bool seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        var agentsPath = Path.Combine(data.Root, AgentsFileName);
        var sample = Path.Combine(DataFolder.SamplesPath, AgentsFileName);
        if (seed && !File.Exists(agentsPath) && File.Exists(sample))
        {
            File.Copy(sample, agentsPath);
        }

        return File.Exists(agentsPath) ? await AgentRegistry.LoadAsync(agentsPath, cancellationToken).ConfigureAwait(false) : AgentRegistry.Empty;
    }

    /// <summary>Composes the entitlements a policy snapshot resolves principals with: the directory (and the remote
    /// source behind its cache, when configured), with agents narrowed to, and only when in, the agent registry.</summary>
    public static IEntitlementProvider ComposeEntitlements(IEntitlementProvider directory, PolicyBundle policy, AgentRegistry agents, ContinuousVerificationSettings? settings, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(agents);
        return new RegisteredAgentEntitlementProvider(Compose(directory, policy, settings ?? new ContinuousVerificationSettings(), time ?? TimeProvider.System), agents);
    }

    private static IEntitlementProvider Compose(IEntitlementProvider directory, PolicyBundle policy, ContinuousVerificationSettings settings, TimeProvider time) =>
        settings.Remote is null
            ? directory
            : new CachingEntitlementProvider(
                new CompositeEntitlementProvider([new EntitlementSource(directory, EntitlementSourceRole.Authoritative), settings.Remote]),
                policy.Version,
                Options.Create(settings.EntitlementCache),
                time);
}
