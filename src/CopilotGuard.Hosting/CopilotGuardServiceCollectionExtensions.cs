using System.Text.Json.Serialization;
using CopilotGuard.Hosting.Labeling;
using CopilotGuard.Hosting.Policy;
using CopilotGuard.Hosting.Retrieval;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Admin;
using CopilotGuard.Hosting.Audit;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Retrieval;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds CopilotGuard to an ASP.NET Core application's services.</summary>
public static class CopilotGuardServiceCollectionExtensions
{
    /// <summary>Adds CopilotGuard: the runtime over the data folder (opened, and seeded on first use, by a hosted
    /// service when the host starts), bearer authentication, the audit retention service and the JSON contracts of the
    /// routes. Every setting is bound from <paramref name="configuration"/> and validated when the host starts.</summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configuration">The configuration (<c>CopilotGuard:*</c>, and <c>data</c> for the data folder).</param>
    /// <returns>A builder that chooses the store, audit log and embedder (<c>AddSqliteStore()</c>, ...).</returns>
    /// <remarks>Requests are refused unless authenticated: CopilotGuard sets the authorization fallback policy, so an
    /// anonymous endpoint of the host says so with <c>AllowAnonymous()</c>. Map the routes with
    /// <see cref="CopilotGuardEndpointRouteBuilderExtensions.MapCopilotGuard"/> after
    /// <see cref="CopilotGuardEndpointRouteBuilderExtensions.UseCopilotGuard"/>.</remarks>
    public static ICopilotGuardBuilder AddCopilotGuard(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = new CopilotGuardBuilder(services, configuration);
        if (services.Any(static s => s.ServiceType == typeof(CopilotGuardRuntimeHost)))
        {
            return builder;
        }

        services.AddOptions<CopilotGuardOptions>()
            .Configure(options => options.DataDirectory = configuration["data"] ?? configuration[CopilotGuardOptions.Section + ":DataDirectory"] ?? options.DataDirectory)
            .Validate(static options => !string.IsNullOrWhiteSpace(options.DataDirectory), "CopilotGuard:DataDirectory (or --data) must name a folder.")
            .ValidateOnStart();
        // The settings below throw an OptionsValidationException naming every bad setting when first read: reading them
        // when the host starts (ValidateOnStart) stops a misconfigured host before it serves anything.
        AddValidatedOnStart(services, () => ProviderSettings.Bind(configuration));
        var remote = GraphEntitlementSettings.CreateSource(configuration, services, CopilotGuardRuntime.Labels);
        AddValidatedOnStart(services, () =>
        {
            var settings = ContinuousVerificationSettings.Bind(configuration);
            settings.Remote = remote;
            return settings;
        });
        services.AddOptions<RetrievalBrokerOptions>().BindConfiguration(RetrievalBrokerOptionsValidator.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RetrievalBrokerOptions>, RetrievalBrokerOptionsValidator>();

        // Registered before every other hosted service of CopilotGuard, so it starts first and stops last: the runtime
        // closes after requests drained and background work (audit retention) stopped.
        services.AddSingleton<CopilotGuardRuntimeHost>();
        services.AddHostedService(static provider => provider.GetRequiredService<CopilotGuardRuntimeHost>());
        services.AddSingleton(static provider => provider.GetRequiredService<CopilotGuardRuntimeHost>().Runtime);
        services.AddSingleton(static provider => provider.GetRequiredService<CopilotGuardRuntime>().Broker);
        services.AddSingleton(static provider => provider.GetRequiredService<CopilotGuardRuntime>().AuditService);
        services.AddSingleton(static provider => provider.GetRequiredService<CopilotGuardRuntime>().Verification);
        services.AddSingleton(static provider => provider.GetRequiredService<CopilotGuardRuntime>().Issuer);
        services.AddSingleton(static provider => new CopilotGuard.Hosting.ComplianceConsole.ConsoleReadModel(provider.GetRequiredService<CopilotGuardRuntime>()));
        // Live policy reloads (PolicyReloadApi.cs): after the runtime host, so the reloader starts once the runtime is open.
        services.AddPolicyReload(configuration);

        services.AddProblemDetails(static options => options.CustomizeProblemDetails = static problem =>
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
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.AddOpenApi();
        services.AddAuditApi();
        services.Configure<RouteHandlerOptions>(static options => options.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(static options =>
        {
            options.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            options.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, ServerJsonContext.Default);
        });
        services.AddCopilotGuardAuthentication(configuration);
        services.AddAdminApiJson();
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        services.AddCopilotGuardHealthChecks();
        return builder;
    }

    /// <summary>Registers options that a factory binds and validates (throwing <see cref="OptionsValidationException"/>),
    /// read once when the host starts.</summary>
    private static void AddValidatedOnStart<T>(IServiceCollection services, Func<T> create)
        where T : class
    {
        services.AddSingleton<IOptionsFactory<T>>(new DelegateOptionsFactory<T>(create));
        services.AddOptions<T>().ValidateOnStart();
    }

    private sealed class DelegateOptionsFactory<T>(Func<T> create) : IOptionsFactory<T>
        where T : class
    {
        public T Create(string name) => create();
    }

    private sealed class CopilotGuardBuilder(IServiceCollection services, IConfiguration configuration) : ICopilotGuardBuilder
    {
        public IServiceCollection Services { get; } = services;

        public IConfiguration Configuration { get; } = configuration;
    }
}

/// <summary>Adds CopilotGuard's middleware and routes to an ASP.NET Core application.</summary>
public static class CopilotGuardEndpointRouteBuilderExtensions
{
    /// <summary>Adds the middleware CopilotGuard's routes need, in order: the refusal audit (outermost, so every refused
    /// or failed request leaves its record), problem details, routing, authentication, authorization and the edge
    /// validation of inputs.</summary>
    /// <param name="app">The application.</param>
    /// <returns>The application.</returns>
    public static IApplicationBuilder UseCopilotGuard(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseRefusalAudit();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseEdgeValidation();
        return app;
    }

    /// <summary>Maps CopilotGuard's routes: retrieval, policy, documents, admin, audit and the compliance console, the
    /// OpenAPI document at <c>/openapi/v1.json</c>, <c>/healthz</c> and the health checks <c>/healthz/live</c> and <c>/healthz/ready</c>.</summary>
    /// <param name="endpoints">The application's endpoints.</param>
    /// <returns>The group of CopilotGuard's API routes, for conventions the host adds (e.g. rate limiting).</returns>
    public static RouteGroupBuilder MapCopilotGuard(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapOpenApi().AllowAnonymous();
        endpoints.MapGet("/healthz", static () => TypedResults.Ok(new HealthResponse("ok"))).AllowAnonymous();
        endpoints.MapCopilotGuardHealth();
        var api = endpoints.MapGroup(string.Empty).AddEndpointFilter<BodyLimitFilter>();
        api.MapRetrievalApi();
        api.MapPolicyApi();
        api.MapDocumentsApi();
        api.MapAdminApi();
        api.MapPolicyReloadApi();
        api.MapAuditApi();
        api.MapConsole();
        return api;
    }
}
