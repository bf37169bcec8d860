using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Operations;
using CopilotGuard.Policy;

namespace CopilotGuard.Retrieval;

/// <summary>Explains why a chunk is or is not visible, through the guarded path; every explanation is audited.</summary>
public sealed class ExplainHandler
{
    private readonly GuardedOperations _guard;
    private readonly IChunkStore _store;
    private readonly string[] _explainRoles;

    /// <summary>Creates the handler from the parts an explanation uses.</summary>
    /// <param name="guard">The guarded-operation path.</param>
    /// <param name="store">The chunk store asked about.</param>
    /// <param name="explainRoles">The roles that may explain other principals' views.</param>
    public ExplainHandler(GuardedOperations guard, IChunkStore store, IEnumerable<string> explainRoles)
    {
        _guard = guard ?? throw new ArgumentNullException(nameof(guard));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _explainRoles = explainRoles?.ToArray() ?? throw new ArgumentNullException(nameof(explainRoles));
    }

    /// <summary>Explains why a chunk is or is not visible to the requester (or, for explain-role callers, to anyone).</summary>
    /// <remarks>A caller without an explain role learns nothing about chunks it cannot see, not even whether they exist.</remarks>
    /// <exception cref="GuardException">The requester may not ask, or the audit record could not be written.</exception>
    public async Task<ChunkExplanation> HandleAsync(ExplainRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.ChunkId) || request.ChunkId.Length > 512)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, "chunkId is required and at most 512 characters long.");
        }

        // The policy snapshot is read once, here, and used for the destination, both resolutions, the gates, the decision and the record.
        var operation = _guard.Begin();
        var target = operation.Destinations.Resolve(request.Destination);
        var requester = await operation.AdmitAsync(request.Requester, new AccessRequest("policy-explain", request.Purpose, target.Id), cancellationToken).ConfigureAwait(false);
        var privileged = HasExplainRole(requester.Subject) && requester.Actor is null;
        var subjectIdentity = request.Subject ?? request.Requester;
        if (!subjectIdentity.SamePrincipalsAs(request.Requester) && !privileged)
        {
            throw new GuardException(GuardErrorKind.Forbidden, $"Only principals with one of the roles {string.Join(", ", _explainRoles)} may explain another principal's view.");
        }

        var caller = subjectIdentity.SamePrincipalsAs(request.Requester) ? requester : await operation.ResolveAsync(subjectIdentity, cancellationToken).ConfigureAwait(false);
        var requestAttributes = PolicyRequest.Attributes(request.Purpose, target.Id);
        var policy = operation.Policy;

        // An agent the registry refuses for this purpose or destination gets nothing from retrieval, so nothing is visible.
        var refusal = _guard.Gates.OfType<AgentRegistryGate>().Select(gate => gate.Refusal(caller, request.Purpose, target.Id, operation.Snapshot)).FirstOrDefault(static r => r is not null);
        var residual = refusal is not null ? FilterNode.False : target.Constrain(policy.Decide(caller, requestAttributes), policy.Labels);
        var (pushed, _, _) = Filters.Split(residual, _store.Capabilities);
        var filters = ImmutableDictionary.CreateRange(StringComparer.Ordinal, [
            new KeyValuePair<string, string>("policy", FilterFormatter.Format(residual)),
            new KeyValuePair<string, string>(_store.Name, _store.DescribeFilter(pushed)),
        ]);

        var chunk = await _store.GetAsync(request.ChunkId, cancellationToken).ConfigureAwait(false);
        var explanation = chunk is null ? null : target.Constrain(policy.Explain(caller, requestAttributes, chunk.ResourceAttributes), chunk.ResourceAttributes, policy.Labels);
        if (explanation is not null && refusal is not null)
        {
            explanation = explanation with { Visible = false, Reason = "refused: " + refusal, Residual = residual };
        }

        var visible = explanation?.Visible == true;
        ChunkExplanation result = privileged || visible
            ? new ChunkExplanation(request.ChunkId, visible, explanation?.Reason ?? "No chunk has this id.", policy.Version, explanation, filters, privileged ? chunk : null)
            : new ChunkExplanation(request.ChunkId, false, "The chunk does not exist or is not visible to you.", policy.Version, null, filters, null);

        await operation.AppendAsync(operation.NewRecord("policy-explain", requester, visible ? "visible" : "hidden") with
        {
            Purpose = request.Purpose,
            Destination = target.Id,
            Store = _store.Name,
            Target = $"chunk:{request.ChunkId} as:{caller.Subject.Id}{(caller.Actor is null ? string.Empty : "+" + caller.Actor.Id)}",
        }, cancellationToken).ConfigureAwait(false);
        return result;
    }

    private bool HasExplainRole(Principal principal) =>
        principal.Attributes.TryGet("roles", out var roles)
        && roles.Any(role => role.Kind == AttributeKind.String && _explainRoles.Contains(role.Text, StringComparer.Ordinal));
}
