using CopilotGuard.Audit;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Retrieval;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Hosting;

/// <summary>Chooses the store, audit log and embedder CopilotGuard opens; returned by
/// <see cref="Microsoft.Extensions.DependencyInjection.CopilotGuardServiceCollectionExtensions.AddCopilotGuard"/>.</summary>
public interface ICopilotGuardBuilder
{
    /// <summary>Gets the application's services.</summary>
    IServiceCollection Services { get; }

    /// <summary>Gets the configuration CopilotGuard's settings are bound from.</summary>
    IConfiguration Configuration { get; }
}

/// <summary>The host-level settings of CopilotGuard (<c>CopilotGuard</c> section), and the hooks a host passes in code.</summary>
public sealed class CopilotGuardOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "CopilotGuard";

    /// <summary>Gets or sets the data folder (keys, directory, policies and the embedded stores): the <c>data</c>
    /// setting (<c>--data</c>) or <c>CopilotGuard:DataDirectory</c>. The default is <c>data</c>.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Gets or sets whether a new data folder is seeded with the samples and an empty store with the sample
    /// corpus. The default is <see langword="true"/>.</summary>
    public bool Seed { get; set; } = true;

    /// <summary>Gets or sets what receives ingestion progress while the store is seeded.</summary>
    public IProgress<IngestionProgress>? SeedingProgress { get; set; }

    /// <summary>Gets or sets a decorator of the audit log the broker appends to (see
    /// <see cref="CopilotGuardRuntimeOptions.DecorateBrokerAudit"/>).</summary>
    public Func<IAuditLog, IAuditLog>? DecorateBrokerAudit { get; set; }
}

/// <summary>Opens the runtime when the host starts (seeding a new data folder) and closes it when the host stops.</summary>
internal sealed class CopilotGuardRuntimeHost(
    IOptions<CopilotGuardOptions> options,
    IOptions<ProviderSettings> providers,
    IOptions<ContinuousVerificationSettings> verification,
    IOptions<RetrievalBrokerOptions> broker,
    IOptions<AvailableProviders> available,
    ILoggerFactory loggers) : IHostedService
{
    private CopilotGuardRuntime? _runtime;

    /// <summary>Gets the open runtime.</summary>
    /// <exception cref="InvalidOperationException">The host has not started (or failed to).</exception>
    public CopilotGuardRuntime Runtime => _runtime ?? throw new InvalidOperationException("CopilotGuard is not running: the host has not started, or opening the data folder failed.");

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var host = options.Value;
        _runtime = await CopilotGuardRuntime.OpenAsync(
            new DataFolder(host.DataDirectory),
            host.Seed,
            host.SeedingProgress,
            loggers,
            verification.Value,
            new CopilotGuardRuntimeOptions { Providers = providers.Value, DecorateBrokerAudit = host.DecorateBrokerAudit, Broker = broker.Value, Available = available.Value },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _runtime, null) is { } runtime)
        {
            await runtime.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Checks <see cref="RetrievalBrokerOptions"/> (<c>CopilotGuard:Retrieval</c>) against its validation attributes.</summary>
[OptionsValidator]
internal sealed partial class RetrievalBrokerOptionsValidator : IValidateOptions<RetrievalBrokerOptions>
{
    /// <summary>The configuration section.</summary>
    public const string Section = "CopilotGuard:Retrieval";
}
