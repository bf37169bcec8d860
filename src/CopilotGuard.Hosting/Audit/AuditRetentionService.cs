using CopilotGuard.Audit;
using CopilotGuard.Hosting;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Hosting.Audit;

/// <summary>Settings of the audit retention service, bound from <c>CopilotGuard:Audit</c>.</summary>
public sealed class AuditRetentionOptions
{
    /// <summary>The configuration section the settings are bound from.</summary>
    public const string Section = "CopilotGuard:Audit";

    /// <summary>Gets or sets how often retention runs (<c>CopilotGuard:Audit:RetentionInterval</c>). The default is 6 hours.</summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(6);

    /// <summary>Gets or sets how long after start-up the first run waits (<c>CopilotGuard:Audit:RetentionFirstRun</c>). The default is 2 minutes.</summary>
    public TimeSpan RetentionFirstRun { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>Registers the audit retention service.</summary>
public static class AuditRetentionServiceCollectionExtensions
{
    /// <summary>Adds the background service that applies the data folder's <c>retention.yaml</c> to the audit log periodically,
    /// with its settings validated at start-up.</summary>
    public static IServiceCollection AddAuditRetention(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<AuditRetentionOptions>().BindConfiguration(AuditRetentionOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuditRetentionOptions>, AuditRetentionOptionsValidator>();
        services.AddHostedService<AuditRetentionService>();
        return services;
    }
}

/// <summary>Checks <see cref="AuditRetentionOptions"/>.</summary>
internal sealed class AuditRetentionOptionsValidator : IValidateOptions<AuditRetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditRetentionOptions options)
    {
        var errors = new List<string>();
        if (options.RetentionInterval < TimeSpan.FromSeconds(1) || options.RetentionInterval > TimeSpan.FromDays(366))
        {
            errors.Add($"{AuditRetentionOptions.Section}:RetentionInterval must be between 1 second and 366 days (it is {options.RetentionInterval}).");
        }

        if (options.RetentionFirstRun < TimeSpan.Zero || options.RetentionFirstRun > TimeSpan.FromDays(1))
        {
            errors.Add($"{AuditRetentionOptions.Section}:RetentionFirstRun must be between 0 and 1 day (it is {options.RetentionFirstRun}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Applies the data folder's retention file to the audit log: shortly after start, then every
/// <see cref="AuditRetentionOptions.RetentionInterval"/>.</summary>
/// <remarks>An invalid retention file stops start-up with every problem listed; one that becomes invalid later is
/// reported and nothing expires until it is fixed. Without a retention file nothing ever expires. A failed run
/// leaves nothing half-applied (the log's retention is one transaction) and is retried at the next interval.</remarks>
internal sealed partial class AuditRetentionService(CopilotGuardRuntimeHost host, IOptions<AuditRetentionOptions> options, ILogger<AuditRetentionService> logger) : BackgroundService
{
    /// <summary>Gets the runtime, which the host opened before this service starts.</summary>
    private CopilotGuardRuntime Runtime => host.Runtime;

    /// <summary>The subject recorded on retention records written by the service.</summary>
    public const string RunBy = "system:retention";

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Misconfiguration fails at start-up, not at the first run.
        await LoadAsync(Runtime, cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the retention file of the runtime's data folder, or <see langword="null"/> when it has none.</summary>
    /// <exception cref="CopilotGuard.Policy.PolicyValidationException">The file is invalid.</exception>
    internal static async Task<AuditRetentionPolicy?> LoadAsync(CopilotGuardRuntime runtime, CancellationToken cancellationToken)
    {
        var path = runtime.Data.RetentionPath;
        if (!File.Exists(path))
        {
            return null;
        }

        var labeling = await CopilotGuardRuntime.LoadLabelingAsync(runtime.Data, cancellationToken).ConfigureAwait(false);
        return await RetentionFile.LoadAsync(path, labeling.Taxonomy, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        try
        {
            await Task.Delay(settings.RetentionFirstRun, stoppingToken).ConfigureAwait(false);
            while (!stoppingToken.IsCancellationRequested)
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(settings.RetentionInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Runtime.Audit is not IAuditRetention retention)
            {
                LogUnsupported(logger, Runtime.Audit.GetType().Name);
                return;
            }

            if (await LoadAsync(Runtime, cancellationToken).ConfigureAwait(false) is not { } policy)
            {
                return;
            }

            var report = await retention.ApplyRetentionAsync(policy, new AuditRetentionRun(RunBy), cancellationToken).ConfigureAwait(false);
            if (report.Record is { } record)
            {
                LogExpired(logger, report.Summary.Expired, record.Record.RecordId, record.Sequence, string.Join(", ", report.Summary.Classes.Where(static c => c.Expired > 0).Select(static c => $"{c.Class}: {c.Expired}")));
            }

            if (report.Held > 0)
            {
                LogHeld(logger, report.Held);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogFailed(logger, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The audit log ({Type}) does not support retention; nothing expires.")]
    private static partial void LogUnsupported(ILogger logger, string type);

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit retention expired {Count} entries (retention record {RecordId}, entry {Sequence}): {Classes}.")]
    private static partial void LogExpired(ILogger logger, long count, string recordId, long sequence, string classes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit retention held {Count} entries whose returned labels are not in the taxonomy; they do not expire.")]
    private static partial void LogHeld(ILogger logger, long count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit retention failed; nothing was expired by this run, the next run retries.")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
