using System.Text.Json.Serialization;
using CopilotGuard.Server.Audit;
using CopilotGuard.Server.Admin;
using CopilotGuard.Server.Identity;
using CopilotGuard.Server.Labeling;
using CopilotGuard.Server.Policy;
using CopilotGuard.Server.Retrieval;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Json;

namespace CopilotGuard.Server.Hosting;

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
    public static async Task<WebApplication> BuildAsync(string[] args, CopilotGuardServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(args);
        options.Configure?.Invoke(builder);
        var dataRoot = builder.Configuration["data"] ?? builder.Configuration["CopilotGuard:DataDirectory"] ?? "data";
        builder.WebHost.UseUrls(builder.Configuration["urls"] ?? DefaultUrls);
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
        {
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }

        var providers = ProviderSettings.Bind(builder.Configuration);
        var verification = Identity.ContinuousVerificationSettings.Bind(builder.Configuration);
        verification.Remote = GraphEntitlementSettings.CreateSource(builder.Configuration, builder.Services, CopilotGuardRuntime.Labels);
        var runtime = await CopilotGuardRuntime.OpenAsync(
            new DataFolder(dataRoot),
            seed: true,
            options.SeedingProgress,
            verificationSettings: verification,
            options: new CopilotGuardRuntimeOptions { Providers = providers, DecorateBrokerAudit = options.DecorateBrokerAudit },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        builder.Services.AddSingleton(runtime);
        // Registered before every other hosted service, so it stops last: the runtime closes after requests drained and
        // background work (audit retention) stopped, without blocking a thread on the async close.
        builder.Services.AddHostedService(_ => new RuntimeShutdown(runtime));
        builder.Services.AddSingleton(runtime.Broker);
        builder.WebHost.ConfigureKestrel(static kestrel =>
        {
            // Ceilings for every route; each route's own body limit (InputLimits.BodyBytes) is lower.
            kestrel.Limits.MaxRequestBodySize = InputLimits.BodyBytes.Values.Max();
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.MaxRequestLineSize = 8 * 1024;
        });
        builder.Services.AddProblemDetails(static options => options.CustomizeProblemDetails = static problem =>
        {
            // Every problem, whoever wrote it: a short escaped prefix of any quoted input, no type names, bounded; the
            // sanitized detail is also what the refusal record keeps.
            if (problem.ProblemDetails.Detail is null && problem.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge)
            {
                // A body that outgrew the route's limit while being read (no declared length) ends with a bare status.
                problem.ProblemDetails.Detail = EdgeValidation.BodyTooLarge(InputLimits.BodyLimitOf(EdgeValidation.Operation(problem.HttpContext)));
                problem.ProblemDetails.Extensions["field"] = "body";
            }

            if (problem.ProblemDetails.Detail is { } detail)
            {
                problem.ProblemDetails.Detail = ProblemText.Sanitize(detail);
            }

            problem.HttpContext.Items[EdgeValidation.ProblemItem] = problem.ProblemDetails.Detail ?? problem.ProblemDetails.Title;
        });
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        builder.Services.AddOpenApi();
        builder.Services.AddAuditApi();
        builder.Services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        builder.Services.Configure<JsonOptions>(options =>
        {
            options.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            options.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, ServerJsonContext.Default);
        });
        builder.Services.AddCopilotGuardAuthentication(builder.Configuration, runtime.Issuer);
        builder.Services.AddAdminApiJson();
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        builder.Services.AddCopilotGuardHealthChecks();
        builder.Services.AddCopilotGuardTelemetry(builder.Configuration);

        var app = builder.Build();

        // Outermost, so it sees the final status of every request (errors included) and records refusals before the response starts.
        app.UseRefusalAudit();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseEdgeValidation();
        app.MapOpenApi().AllowAnonymous();
        app.MapGet("/healthz", () => TypedResults.Ok(new HealthResponse("ok"))).AllowAnonymous();
        app.MapCopilotGuardHealth();
        var api = app.MapGroup(string.Empty).AddEndpointFilter<BodyLimitFilter>();
        api.MapRetrievalApi();
        api.MapPolicyApi();
        api.MapDocumentsApi();
        api.MapAdminApi();
        api.MapAuditApi();
        api.MapConsole();
        return app;
    }
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

/// <summary>Closes the runtime (store, audit log, embedder) when the host stops.</summary>
internal sealed class RuntimeShutdown(CopilotGuardRuntime runtime) : IHostedService
{
    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => runtime.DisposeAsync().AsTask();
}
