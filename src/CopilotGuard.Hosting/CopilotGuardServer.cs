
namespace CopilotGuard.Hosting;

/// <summary>Builds the CopilotGuard web application.</summary>
public static class CopilotGuardServer
{
    /// <summary>The default listening address.</summary>
    public const string DefaultUrls = "http://127.0.0.1:5180";

    /// <summary>Builds the server from command-line arguments (<c>--data DIR</c>, <c>--urls URL</c>, and any ASP.NET Core setting).</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="seedingProgress">Receives ingestion progress when a new data folder is seeded.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public static Task<WebApplication> BuildAsync(string[] args, IProgress<Ingestion.IngestionProgress>? seedingProgress = null, CancellationToken cancellationToken = default) =>
        BuildAsync(args, static _ => { }, seedingProgress, cancellationToken);

    /// <summary>Builds the server from command-line arguments, letting the caller add services (e.g. an OIDC backchannel in tests).</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="configure">Adds or replaces services before the application is built.</param>
    /// <param name="seedingProgress">Receives ingestion progress when a new data folder is seeded.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public static Task<WebApplication> BuildAsync(string[] args, Action<WebApplicationBuilder> configure, IProgress<Ingestion.IngestionProgress>? seedingProgress = null, CancellationToken cancellationToken = default) =>
        BuildAsync(args, new CopilotGuardServerOptions { Configure = configure, SeedingProgress = seedingProgress }, cancellationToken);

    /// <summary>Builds the server from command-line arguments and host options.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="options">Service changes, seeding progress and runtime decorators.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A setting is invalid; the message names it.</exception>
    public static Task<WebApplication> BuildAsync(string[] args, CopilotGuardServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        var builder = WebApplication.CreateSlimBuilder(args);
        options.Configure?.Invoke(builder);
        if (!HasListenAddress(builder.Configuration))
        {
            builder.WebHost.UseUrls(DefaultUrls);
        }

        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
        {
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }

        builder.WebHost.ConfigureKestrel(static kestrel =>
        {
            // Ceilings for every route; each route's own body limit (InputLimits.BodyBytes) is lower.
            kestrel.Limits.MaxRequestBodySize = InputLimits.BodyBytes.Values.Max();
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.MaxRequestLineSize = 8 * 1024;
        });
        builder.Services.AddCopilotGuard(builder.Configuration)
            .AddSqliteStore()
            .AddPostgreSqlStore()
            .AddAzureAISearchStore()
            .AddSqliteAudit()
            .AddPostgreSqlAudit()
            .AddLocalEmbeddings()
            .AddOpenAIEmbeddings();
        // Traces and metrics; exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
        builder.Services.AddCopilotGuardTelemetry(builder.Configuration);
        builder.Services.Configure<CopilotGuardOptions>(host =>
        {
            host.SeedingProgress = options.SeedingProgress;
            host.DecorateBrokerAudit = options.DecorateBrokerAudit;
        });

        var app = builder.Build();
        app.UseCopilotGuard();
        app.MapCopilotGuard();
        return Task.FromResult(app);
    }

    /// <summary>Whether the configuration names where to listen (<c>--urls</c>, <c>ASPNETCORE_URLS</c>,
    /// <c>ASPNETCORE_HTTP_PORTS</c>/<c>HTTPS_PORTS</c>, or Kestrel endpoints); only when none does, the loopback default applies.</summary>
    internal static bool HasListenAddress(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["urls"])
        || !string.IsNullOrWhiteSpace(configuration["http_ports"])
        || !string.IsNullOrWhiteSpace(configuration["https_ports"])
        || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();
}

/// <summary>How <see cref="CopilotGuardServer.BuildAsync(string[], CopilotGuardServerOptions, CancellationToken)"/> builds the server beyond its arguments.</summary>
public sealed record CopilotGuardServerOptions
{
    /// <summary>Gets a callback that adds or replaces services before the application is built.</summary>
    public Action<WebApplicationBuilder>? Configure { get; init; }

    /// <summary>Gets what receives ingestion progress when a store is seeded.</summary>
    public IProgress<Ingestion.IngestionProgress>? SeedingProgress { get; init; }

    /// <summary>Gets a decorator of the audit log the broker appends to (see <see cref="CopilotGuardRuntimeOptions.DecorateBrokerAudit"/>).</summary>
    public Func<CopilotGuard.Audit.IAuditLog, CopilotGuard.Audit.IAuditLog>? DecorateBrokerAudit { get; init; }
}

/// <summary>The liveness answer.</summary>
/// <param name="Status">Always <c>ok</c> while the process serves requests.</param>
public sealed record HealthResponse(string Status);
