using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;

namespace CopilotGuard.Hosting.Admin;

/// <summary>Live policy reloads: the <see cref="PolicyReloader"/> service and <c>POST /v1/admin/policy/reload</c> and
/// <c>GET /v1/admin/policy/status</c> for security administrators (<see cref="AdminApi.SecurityAdminRole"/>).</summary>
public static class PolicyReloadApi
{
    /// <summary>Adds <see cref="PolicyReloadStatus"/> and <see cref="PolicyReloader"/> (a hosted service watching the data
    /// folder unless <c>CopilotGuard:PolicyReload:Watch</c> is <see langword="false"/>; <c>CopilotGuard:PolicyReload:DebounceMilliseconds</c>,
    /// 500 by default, is how long the files must stay unchanged before they are loaded).</summary>
    /// <remarks>Call after the <see cref="CopilotGuardRuntimeHost"/> hosted service is registered: the reloader takes the
    /// runtime from it when it starts, so it must start after the runtime opened.</remarks>
    internal static IServiceCollection AddPolicyReload(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var watch = configuration.GetValue("CopilotGuard:PolicyReload:Watch", true);
        var debounce = TimeSpan.FromMilliseconds(Math.Clamp(configuration.GetValue("CopilotGuard:PolicyReload:DebounceMilliseconds", 500), 0, 60_000));
        services.AddSingleton<PolicyReloadStatus>();
        services.AddSingleton(provider =>
        {
            var host = provider.GetRequiredService<CopilotGuardRuntimeHost>();
            return new PolicyReloader(() => host.Runtime, provider.GetRequiredService<PolicyReloadStatus>(), provider.GetRequiredService<ILogger<PolicyReloader>>(), watch, debounce);
        });
        services.AddHostedService(static provider => provider.GetRequiredService<PolicyReloader>());
        services.Configure<JsonOptions>(static options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, PolicyReloadJsonContext.Default));
        return services;
    }

    /// <summary>Maps the reload routes.</summary>
    public static IEndpointRouteBuilder MapPolicyReloadApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/v1/admin/policy");
        group.MapPost("/reload", ReloadAsync)
            .WithName("ReloadPolicy")
            .WithSummary("Loads and validates the policy files and swaps them in; invalid files leave the policy in force.");
        group.MapGet("/status", StatusAsync)
            .WithName("PolicyReloadStatus")
            .WithSummary("The policy version in force and the outcome of the last reload.");
        return app;
    }

    /// <summary>Handles a reload request.</summary>
    public static async Task<Results<Ok<PolicyReloadResponse>, ProblemHttpResult>> ReloadAsync(
        HttpContext context,
        CopilotGuardRuntime runtime,
        PolicyReloader reloader,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reloader);
        var admin = await AdminApi.AuthorizeAsync(context, runtime, cancellationToken).ConfigureAwait(false);
        var result = await reloader.ReloadAsync(admin, cancellationToken).ConfigureAwait(false);
        return result.Outcome == PolicyReloadOutcome.Refused
            ? TypedResults.Problem(result.Error, statusCode: StatusCodes.Status422UnprocessableEntity, title: "Policy reload refused; the policy in force is unchanged")
            : TypedResults.Ok(new PolicyReloadResponse(Wire(result.Outcome), result.Version, result.Hash, result.RecordId));
    }

    /// <summary>Reports the reload status.</summary>
    public static async Task<Ok<PolicyReloadState>> StatusAsync(HttpContext context, CopilotGuardRuntime runtime, PolicyReloadStatus status, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        await AdminApi.AuthorizeAsync(context, runtime, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(status.State);
    }

    private static string Wire(PolicyReloadOutcome outcome) => outcome == PolicyReloadOutcome.Applied ? "applied" : "unchanged";
}

/// <summary>The answer to a reload that was not refused.</summary>
/// <param name="Outcome"><c>applied</c>, or <c>unchanged</c> when the files are the policy in force.</param>
/// <param name="Version">The policy version in force.</param>
/// <param name="Hash">The policy hash in force.</param>
/// <param name="ReceiptId">The audit record of an applied reload.</param>
public sealed record PolicyReloadResponse(string Outcome, string Version, string Hash, string? ReceiptId);

/// <summary>Source-generated JSON for the reload API.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PolicyReloadResponse))]
[JsonSerializable(typeof(PolicyReloadState))]
internal sealed partial class PolicyReloadJsonContext : JsonSerializerContext;
