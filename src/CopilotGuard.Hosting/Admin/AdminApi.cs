using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;

namespace CopilotGuard.Hosting.Admin;

/// <summary>The kill switch API: <c>POST /v1/admin/principals/{id}/suspend</c> and <c>/resume</c>, and the list of suspensions.</summary>
/// <remarks>Only a user holding the <see cref="SecurityAdminRole"/> role, calling directly (not through an agent) and
/// not suspended itself, may call it. Every change is audited before it is made.</remarks>
public static class AdminApi
{
    /// <summary>The role (a value of <c>principal.roles</c>) that may suspend and resume principals.</summary>
    public const string SecurityAdminRole = "security-admin";

    /// <summary>Maps the admin routes.</summary>
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/v1/admin/principals");
        group.MapPost("/{id}/suspend", SuspendAsync)
            .WithName("SuspendPrincipal")
            .WithSummary("Suspends a user or agent: its next request, on every instance, is refused with 403.");
        group.MapPost("/{id}/resume", ResumeAsync)
            .WithName("ResumePrincipal")
            .WithSummary("Lifts a suspension.");
        group.MapGet("/suspended", ListAsync)
            .WithName("ListSuspendedPrincipals")
            .WithSummary("Lists every suspended principal.");
        return app;
    }

    /// <summary>Adds the admin API's JSON bodies to the server's source-generated serializer.</summary>
    public static IServiceCollection AddAdminApiJson(this IServiceCollection services) =>
        services.Configure<JsonOptions>(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJsonContext.Default));

    /// <summary>Handles a suspension.</summary>
    public static async Task<Results<Ok<PrincipalStateResponse>, ProblemHttpResult>> SuspendAsync(
        string id,
        [Microsoft.AspNetCore.Mvc.FromBody(EmptyBodyBehavior = Microsoft.AspNetCore.Mvc.ModelBinding.EmptyBodyBehavior.Allow)] SuspendRequest? body,
        HttpContext context,
        CopilotGuardRuntime runtime,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var admin = await AuthorizeAsync(context, runtime, cancellationToken).ConfigureAwait(false);
        if (body?.Reason is { Length: > 512 })
        {
            return TypedResults.Problem("reason is at most 512 characters.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }

        var (suspension, receipt) = await runtime.Verification.KillSwitch.SuspendAsync(id, body?.Reason, admin, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new PrincipalStateResponse(suspension.PrincipalId, true, suspension.Reason, suspension.SuspendedBy, suspension.Since, receipt));
    }

    /// <summary>Handles a resumption.</summary>
    public static async Task<Results<Ok<PrincipalStateResponse>, ProblemHttpResult>> ResumeAsync(
        string id,
        HttpContext context,
        CopilotGuardRuntime runtime,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var admin = await AuthorizeAsync(context, runtime, cancellationToken).ConfigureAwait(false);
        var (wasSuspended, receipt) = await runtime.Verification.KillSwitch.ResumeAsync(id, admin, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new PrincipalStateResponse(id, false, wasSuspended ? "resumed" : "was not suspended", admin, null, receipt));
    }

    /// <summary>Lists suspensions.</summary>
    public static async Task<Ok<ImmutableArray<PrincipalStateResponse>>> ListAsync(HttpContext context, CopilotGuardRuntime runtime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        await AuthorizeAsync(context, runtime, cancellationToken).ConfigureAwait(false);
        var suspensions = await runtime.Verification.State.ListSuspensionsAsync(cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(suspensions.Select(static s => new PrincipalStateResponse(s.PrincipalId, true, s.Reason, s.SuspendedBy, s.Since, null)).ToImmutableArray());
    }

    /// <summary>Checks that the caller is a security administrator calling directly and not suspended, and returns its id.</summary>
    internal static async Task<string> AuthorizeAsync(HttpContext context, CopilotGuardRuntime runtime, CancellationToken cancellationToken)
    {
        var identity = DevelopmentIssuer.ReadCaller(context.User)
            ?? throw new GuardException(GuardErrorKind.Forbidden, "The token does not name a caller.");
        if (identity.ActorId is not null)
        {
            throw new GuardException(GuardErrorKind.Forbidden, "Administrative actions need the administrator's own token, not an agent acting for them.");
        }

        var caller = await runtime.Broker.ResolveCallerAsync(identity, cancellationToken).ConfigureAwait(false);
        await runtime.Verification.SuspensionGate.CheckAsync(caller, new AccessRequest("admin", null, "internal"), cancellationToken).ConfigureAwait(false);
        var isAdmin = caller.Subject.Kind == PrincipalKind.User
            && caller.Subject.Attributes.TryGet("roles", out var roles)
            && roles.Any(static r => r.Kind == AttributeKind.String && r.Text == SecurityAdminRole);
        return isAdmin
            ? caller.Subject.Id
            : throw new GuardException(GuardErrorKind.Forbidden, $"Only principals with the {SecurityAdminRole} role may use the admin API.");
    }
}

/// <summary>The optional body of a suspension.</summary>
/// <param name="Reason">Why the principal is suspended (at most 512 characters); shown to the suspended caller.</param>
public sealed record SuspendRequest(string? Reason) : ILimitedBody
{
    /// <inheritdoc />
    public FieldProblem? CheckLimits() => InputLimits.Check("reason", Reason);
}

/// <summary>A principal's suspension state after an admin call.</summary>
/// <param name="PrincipalId">The principal.</param>
/// <param name="Suspended">Whether it is suspended now.</param>
/// <param name="Reason">The reason of the suspension, or what the resumption did.</param>
/// <param name="By">Who made the change.</param>
/// <param name="Since">When the suspension started.</param>
/// <param name="ReceiptId">The audit record of the change.</param>
public sealed record PrincipalStateResponse(string PrincipalId, bool Suspended, string Reason, string By, DateTimeOffset? Since, string? ReceiptId);

/// <summary>Source-generated JSON for the admin API's bodies.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(SuspendRequest))]
[JsonSerializable(typeof(PrincipalStateResponse))]
[JsonSerializable(typeof(ImmutableArray<PrincipalStateResponse>))]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
