using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CopilotGuard.Hosting.Policy;

/// <summary>Policy tooling over HTTP: <c>POST /v1/policy/explain</c>.</summary>
internal static class PolicyApi
{
    /// <summary>Maps the policy routes.</summary>
    public static IEndpointRouteBuilder MapPolicyApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("/v1/policy").MapPost("/explain", ExplainAsync)
            .WithName("ExplainPolicy")
            .WithSummary("Explains why a chunk is or is not visible to the caller (or, for security admins, to another principal).");
        return app;
    }

    /// <summary>Handles one explanation.</summary>
    public static async Task<Results<Ok<ExplainResponse>, ProblemHttpResult>> ExplainAsync(
        ExplainBody body,
        HttpContext context,
        RetrievalBroker broker,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(broker);
        var caller = DevelopmentIssuer.ReadCaller(context.User);
        if (caller is null)
        {
            return DevelopmentIssuer.MissingCallerProblem();
        }

        if (body is null)
        {
            return TypedResults.Problem("The request body is required.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }

        var explanation = await broker.ExplainAsync(
            new ExplainRequest
            {
                Requester = caller,
                Subject = body.User is null ? null : new CallerIdentity(body.User, body.Agent),
                ChunkId = body.ChunkId ?? string.Empty,
                Purpose = body.Purpose,
                Destination = body.Destination,
            },
            cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(ExplainResponse.From(explanation));
    }
}

/// <summary>The body of <c>POST /v1/policy/explain</c>.</summary>
/// <param name="ChunkId">The chunk to explain.</param>
/// <param name="User">Whose view to explain (security admins only); the default is the caller.</param>
/// <param name="Agent">The agent acting for <paramref name="User"/>, if any.</param>
/// <param name="Purpose">The purpose to evaluate with.</param>
/// <param name="Destination">The destination to evaluate with; undeclared or unregistered means the most restrictive registered one.</param>
public sealed record ExplainBody(string? ChunkId, string? User, string? Agent, string? Purpose, string? Destination) : CopilotGuard.Hosting.ILimitedBody
{
    /// <inheritdoc />
    public CopilotGuard.Hosting.FieldProblem? CheckLimits() =>
        CopilotGuard.Hosting.InputLimits.Check("chunkId", ChunkId)
        ?? CopilotGuard.Hosting.InputLimits.Check("user", User)
        ?? CopilotGuard.Hosting.InputLimits.Check("agent", Agent)
        ?? CopilotGuard.Hosting.InputLimits.Check("purpose", Purpose)
        ?? CopilotGuard.Hosting.InputLimits.Check("destination", Destination);
}

/// <summary>Why a chunk is or is not visible.</summary>
/// <param name="ChunkId">The chunk.</param>
/// <param name="Visible">Whether it is visible.</param>
/// <param name="Reason">The deciding rules, in words.</param>
/// <param name="PolicyVersion">The deciding policy version.</param>
/// <param name="Principals">Rule-by-rule outcomes per principal, when disclosed.</param>
/// <param name="Filters">The residual filter in the policy language and the store's dialect.</param>
/// <param name="Chunk">The chunk's attributes, for security admins.</param>
public sealed record ExplainResponse(
    string ChunkId,
    bool Visible,
    string Reason,
    string PolicyVersion,
    ImmutableArray<ExplainedPrincipal>? Principals,
    ImmutableDictionary<string, string> Filters,
    ExplainedChunk? Chunk)
{
    /// <summary>Maps an engine explanation to the wire shape.</summary>
    public static ExplainResponse From(ChunkExplanation explanation)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        return new ExplainResponse(
            explanation.ChunkId,
            explanation.Visible,
            explanation.Reason,
            explanation.PolicyVersion,
            explanation.Details is null ? null : [.. explanation.Details.Principals.Select(static p => new ExplainedPrincipal(
                p.PrincipalId,
                p.Kind.ToString().ToLowerInvariant(),
                p.Allowed,
                p.Reason,
                [.. p.Rules.Select(static r => new ExplainedRule(r.RuleId, r.Effect.ToString().ToLowerInvariant(), ToWire(r.Match), r.Description))],
                FilterFormatter.Format(p.Residual)))],
            explanation.Filters,
            explanation.Chunk is null ? null : new ExplainedChunk(
                explanation.Chunk.Id,
                explanation.Chunk.DocumentId,
                explanation.Chunk.Source,
                explanation.Chunk.Label.Name,
                explanation.Chunk.ResourceAttributes.ToImmutableSortedDictionary(
                    static pair => pair.Key,
                    static pair => pair.Value.Select(static v => v.Text).ToImmutableArray(),
                    StringComparer.Ordinal)));
    }

    private static string ToWire(CopilotGuard.Policy.RuleMatch match) => match switch
    {
        CopilotGuard.Policy.RuleMatch.Matched => "matched",
        CopilotGuard.Policy.RuleMatch.NotMatched => "not-matched",
        _ => "undecided",
    };
}

/// <summary>One principal's view in an explanation.</summary>
public sealed record ExplainedPrincipal(string Id, string Kind, bool Allowed, string Reason, ImmutableArray<ExplainedRule> Rules, string Residual);

/// <summary>One rule's outcome: <c>matched</c>, <c>not-matched</c> or <c>undecided</c> (a missing attribute).</summary>
public sealed record ExplainedRule(string Id, string Effect, string Match, string? Description);

/// <summary>A chunk's policy-relevant attributes.</summary>
public sealed record ExplainedChunk(string Id, string DocumentId, string Source, string Label, ImmutableSortedDictionary<string, ImmutableArray<string>> Attributes);
