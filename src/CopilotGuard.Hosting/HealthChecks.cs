using System.Text.Json;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Npgsql;

namespace CopilotGuard.Hosting;

/// <summary>Liveness and readiness for orchestrators: <c>/healthz/live</c> answers while the process serves, and
/// <c>/healthz/ready</c> only while the chunk store, the audit log, the pseudonym vault, the identity metadata and every
/// registered <see cref="ReadinessSignal"/> are usable.</summary>
/// <remarks>Both are anonymous and answer JSON naming each check with its status and a fixed, short description: never
/// an exception message, a path or a connection string (the exception goes to the log). Readiness answers 503 when a
/// check fails. <c>/healthz</c> itself is unchanged.</remarks>
public static class CopilotGuardHealth
{
    /// <summary>The liveness path: no dependency is checked.</summary>
    public const string LivePath = "/healthz/live";

    /// <summary>The readiness path: every check tagged <see cref="ReadyTag"/>.</summary>
    public const string ReadyPath = "/healthz/ready";

    /// <summary>The tag of the checks readiness runs.</summary>
    public const string ReadyTag = "ready";

    /// <summary>The chunk store check's name.</summary>
    public const string StoreCheck = "store";

    /// <summary>The audit log check's name.</summary>
    public const string AuditCheck = "audit";

    /// <summary>The pseudonym vault check's name.</summary>
    public const string VaultCheck = "vault";

    /// <summary>The identity metadata check's name.</summary>
    public const string IdentityCheck = "identity";

    /// <summary>How long one check may take before it counts as failed.</summary>
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Registers the readiness checks of the runtime's dependencies (the runtime itself must be registered).</summary>
    public static IServiceCollection AddCopilotGuardHealthChecks(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Singletons, so that concurrent readiness requests share one probe of each database (see SingleFlight).
        services.AddSingleton<AuditLogHealthCheck>();
        services.AddSingleton<PseudonymVaultHealthCheck>();
        services.AddHealthChecks()
            .AddCheck<ChunkStoreHealthCheck>(StoreCheck, tags: [ReadyTag], timeout: CheckTimeout)
            .AddCheck<AuditLogHealthCheck>(AuditCheck, tags: [ReadyTag], timeout: CheckTimeout)
            .AddCheck<PseudonymVaultHealthCheck>(VaultCheck, tags: [ReadyTag], timeout: CheckTimeout)
            .AddCheck<IdentityHealthCheck>(IdentityCheck, tags: [ReadyTag], timeout: CheckTimeout);
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            "policy-reload",
            static provider => new PolicyReloadHealthCheck(provider.GetRequiredService<PolicyReloadStatus>()),
            failureStatus: HealthStatus.Unhealthy,
            tags: [ReadyTag]));
        return services;
    }

    /// <summary>Adds a readiness check named <paramref name="name"/> that reports the state of the <typeparamref name="TSignal"/>
    /// singleton (registered here if it is not yet), e.g. a policy reloader's <c>PolicyReloadStatus</c>.</summary>
    /// <typeparam name="TSignal">The signal type; its descriptions are shown to anonymous callers, so they must be short and name nothing internal.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The check name readiness reports (e.g. <c>policy</c>).</param>
    public static IServiceCollection AddCopilotGuardReadinessSignal<TSignal>(this IServiceCollection services, string name)
        where TSignal : ReadinessSignal
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        services.TryAddSingleton<TSignal>();
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            name,
            static provider => new ReadinessSignalHealthCheck(provider.GetRequiredService<TSignal>()),
            failureStatus: HealthStatus.Unhealthy,
            tags: [ReadyTag]));
        return services;
    }

    /// <summary>Maps <see cref="LivePath"/> (no checks) and <see cref="ReadyPath"/> (the checks tagged <see cref="ReadyTag"/>), anonymous.</summary>
    public static IEndpointRouteBuilder MapCopilotGuardHealth(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = static _ => false, ResponseWriter = WriteAsync }).AllowAnonymous();
        endpoints.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = static check => check.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync }).AllowAnonymous();
        return endpoints;
    }

    /// <summary>Writes <c>{"status": ..., "checks": [{"name", "status", "description"}]}</c>: names, statuses and the
    /// checks' fixed descriptions only.</summary>
    private static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        using var buffer = new MemoryStream();
        await using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("status", Status(report.Status));
            json.WriteStartArray("checks");
            foreach (var (name, entry) in report.Entries.OrderBy(static e => e.Key, StringComparer.Ordinal))
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteString("status", Status(entry.Status));
                json.WriteString("description", Describe(entry));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The check's own description, but never an exception's message: the health check service describes a
    /// check that threw with the message, which may name a file or a host.</summary>
    private static string Describe(HealthReportEntry entry) =>
        entry.Description is { Length: > 0 } description && description != entry.Exception?.Message
            ? description
            : entry.Status == HealthStatus.Healthy ? "ok" : "The check failed.";

    private static string Status(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };

    /// <summary>Opens a SQLite file the runtime already created, read-write and never creating it, and proves a write
    /// could commit without committing one: <c>BEGIN IMMEDIATE</c> takes the file's write lock (refused for a read-only
    /// file or one another writer holds past the timeout), an insert of no rows into each table prepares and runs
    /// against the real schema, and the transaction is rolled back.</summary>
    internal static async Task ProbeSqliteWriteAsync(string path, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("The database file is missing.", path);
        }

        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 5 }.ToString();
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        // BEGIN IMMEDIATE (SQLite's calls are synchronous under Microsoft.Data.Sqlite's async methods anyway).
        await using var transaction = connection.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);
        await using (var insert = connection.CreateCommand())
        {
            insert.Transaction = transaction;
            foreach (var table in tables)
            {
                insert.CommandText = $"INSERT INTO \"{table}\" SELECT * FROM \"{table}\" WHERE 0";
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A condition another part of the host reports on readiness, such as a failed policy reload (see
/// <see cref="CopilotGuardHealth.AddCopilotGuardReadinessSignal{TSignal}"/>). Ready until told otherwise; thread-safe.</summary>
public class ReadinessSignal
{
    private volatile State _state = new(true, "ok");

    /// <summary>Gets whether the condition allows serving.</summary>
    public bool IsReady => _state.Ready;

    /// <summary>Gets the short description readiness shows for the condition.</summary>
    public string Description => _state.Description;

    /// <summary>Reports the condition as ready again.</summary>
    /// <param name="description">A short description, shown to anonymous callers.</param>
    public void ReportReady(string description = "ok") => _state = new State(true, description);

    /// <summary>Reports the condition as not ready: readiness answers 503 naming the check.</summary>
    /// <param name="description">A short description, shown to anonymous callers: no paths, secrets or exception messages.</param>
    public void ReportNotReady(string description) => _state = new State(false, description);

    private sealed record State(bool Ready, string Description);
}

/// <summary>Runs at most one probe at a time: callers that arrive while one runs share its result, so a flood of
/// anonymous readiness requests takes a database's write lock once at a time, not once per request.</summary>
internal sealed class SingleFlight
{
    private readonly Lock _gate = new();
    private Task<HealthCheckResult>? _running;

    /// <summary>Returns the running probe's result, or starts <paramref name="probe"/> (outside the lock) when none runs.</summary>
    public Task<HealthCheckResult> RunAsync(Func<Task<HealthCheckResult>> probe)
    {
        Task<Task<HealthCheckResult>>? start = null;
        Task<HealthCheckResult> result;
        lock (_gate)
        {
            if (_running is not { IsCompleted: false })
            {
                start = new Task<Task<HealthCheckResult>>(probe);
                _running = start.Unwrap();
            }

            result = _running;
        }

        start?.RunSynchronously(TaskScheduler.Default);
        return result;
    }
}

/// <summary>Reports a <see cref="ReadinessSignal"/>.</summary>
internal sealed class ReadinessSignalHealthCheck(ReadinessSignal signal) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(signal.IsReady ? HealthCheckResult.Healthy(signal.Description) : new HealthCheckResult(context.Registration.FailureStatus, signal.Description));
}

/// <summary>Counts the chunks: one cheap query the configured store (SQLite, PostgreSQL, Azure AI Search) really runs.</summary>
internal sealed class ChunkStoreHealthCheck(CopilotGuardRuntime runtime) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await runtime.Store.CountAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy("The chunk store answered a query.");
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The chunk store did not answer a query.", exception);
        }
    }
}

/// <summary>Proves the audit log could take an append without appending one (a record in the hash chain is evidence, so
/// a probe never writes one): for SQLite, the write lock of <c>audit.db</c> and an insert of no rows into its chain table,
/// rolled back; for PostgreSQL, the same insert of no rows into <c>audit_log</c> in a transaction that is rolled back
/// (refused on a read-only standby, without the INSERT privilege, or when the table is gone).</summary>
internal sealed class AuditLogHealthCheck(CopilotGuardRuntime runtime) : IHealthCheck, IAsyncDisposable
{
    private static readonly string[] SqliteTables = ["audit_log"];
    private readonly Lock _gate = new();
    private readonly SingleFlight _flight = new();
    private NpgsqlDataSource? _dataSource;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        _flight.RunAsync(() => ProbeAsync(context, cancellationToken));

    private async Task<HealthCheckResult> ProbeAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        try
        {
            if (runtime.Providers.Audit.Name == AuditSettings.PostgreSql)
            {
                await ProbePostgreSqlAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CopilotGuardHealth.ProbeSqliteWriteAsync(runtime.Data.AuditPath, SqliteTables, cancellationToken).ConfigureAwait(false);
            }

            return HealthCheckResult.Healthy("The audit log can take a write.");
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The audit log cannot take a write.", exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is { } source)
        {
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ProbePostgreSqlAsync(CancellationToken cancellationToken)
    {
        NpgsqlDataSource source;
        lock (_gate)
        {
            source = _dataSource ??= NpgsqlDataSource.Create(runtime.Providers.Audit.EffectiveConnectionString!);
        }

        var table = $"{runtime.Providers.Audit.PostgreSqlOptions.Schema}.audit_log";
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '5s'; INSERT INTO {table} SELECT * FROM {table} WHERE false";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Proves the pseudonym vault (<c>vault.db</c>) is there and writable: its write lock and an insert of no rows
/// into each of its tables, rolled back, so no mapping is added or extended.</summary>
internal sealed class PseudonymVaultHealthCheck(CopilotGuardRuntime runtime) : IHealthCheck
{
    private static readonly string[] Tables = ["conversations", "pseudonyms"];
    private readonly SingleFlight _flight = new();

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        _flight.RunAsync(() => ProbeAsync(context, cancellationToken));

    private async Task<HealthCheckResult> ProbeAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        try
        {
            await CopilotGuardHealth.ProbeSqliteWriteAsync(runtime.Data.VaultPath, Tables, cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy("The pseudonym vault can take a write.");
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The pseudonym vault cannot take a write.", exception);
        }
    }
}

/// <summary>Proves tokens can be validated: with an OIDC issuer, its metadata and signing keys are fetched (or cached and
/// not due for refresh) through the bearer handler's own configuration manager and hold at least one key; with the
/// development issuer enabled, its key signs a token that its validation parameters accept.</summary>
internal sealed class IdentityHealthCheck(
    CopilotGuardRuntime runtime,
    IOptions<CopilotGuardIdentityOptions> identity,
    IOptionsMonitor<JwtBearerOptions> bearer,
    IHostEnvironment environment) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var options = identity.Value;
        if (options.HasOidcIssuer)
        {
            try
            {
                var manager = bearer.Get(CopilotGuardAuthentication.OidcScheme).ConfigurationManager
                    ?? throw new InvalidOperationException("The OIDC scheme has no configuration manager.");
                var configuration = await manager.GetConfigurationAsync(cancellationToken).ConfigureAwait(false);
                if (configuration.SigningKeys.Count == 0)
                {
                    return new HealthCheckResult(context.Registration.FailureStatus, "The OIDC issuer publishes no signing key.");
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, "The OIDC metadata or signing keys cannot be fetched.", exception);
            }
        }

        if (options.DevelopmentIssuerEnabled(environment))
        {
            const string Failed = "The development issuer key cannot sign and validate a token.";
            try
            {
                var token = runtime.Issuer.CreateToken("healthz-probe", lifetime: TimeSpan.FromMinutes(1));
                var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, runtime.Issuer.ValidationParameters).ConfigureAwait(false);
                if (!result.IsValid)
                {
                    return new HealthCheckResult(context.Registration.FailureStatus, Failed, result.Exception);
                }
            }
            catch (Exception exception) when (exception is System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, Failed, exception);
            }
        }

        return HealthCheckResult.Healthy(options.HasOidcIssuer ? "The OIDC signing keys are available." : "The development issuer key is loaded.");
    }
}

/// <summary>Not ready while the last policy reload failed: the previous policy still decides, but the data folder holds
/// files an operator must fix (the error itself is in the log and at <c>GET /v1/admin/policy/status</c>).</summary>
internal sealed class PolicyReloadHealthCheck(PolicyReloadStatus status) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(status.IsCurrent
            ? HealthCheckResult.Healthy("The policy files in force are the ones in the data folder.")
            : new HealthCheckResult(context.Registration.FailureStatus, "The last policy reload failed; the previous policy is still in force."));
}
