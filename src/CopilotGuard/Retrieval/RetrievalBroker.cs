using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Obligations;
using CopilotGuard.Operations;
using CopilotGuard.Policy;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Retrieval;

/// <summary>The data-access operations over one store, composed from their parts: each public operation is one handler
/// (<see cref="RetrieveHandler"/>, <see cref="ExplainHandler"/>, <see cref="DeanonymizeHandler"/>,
/// <see cref="RelabelHandler"/>) on the one guarded path (<see cref="GuardedOperations"/>) that audit queries share.</summary>
public sealed class RetrievalBroker
{
    /// <summary>The destination assumed when a request does not declare one.</summary>
    public const string DefaultDestination = PolicyRequest.DefaultDestination;

    private readonly RetrieveHandler _retrieve;
    private readonly ExplainHandler _explain;
    private readonly DeanonymizeHandler _deanonymize;
    private readonly RelabelHandler _relabel;

    /// <summary>Creates a broker from its parts, deciding with one fixed policy bundle.</summary>
    public RetrievalBroker(
        IEntitlementProvider entitlements,
        PolicyBundle policy,
        IChunkStore store,
        IEmbeddingGenerator<string, Embedding<float>> embedder,
        IAuditLog audit,
        QueryHasher queryHasher,
        IOptions<RetrievalBrokerOptions>? options = null,
        TimeProvider? time = null,
        ILogger<RetrievalBroker>? logger = null,
        IEnumerable<IAccessGate>? gates = null,
        IEnumerable<IRetrievalObserver>? observers = null,
        ChunkReleaser? releaser = null,
        DestinationRegistry? destinations = null)
        : this(
            PolicySnapshotHolder.Fixed(policy ?? throw new ArgumentNullException(nameof(policy)), entitlements ?? throw new ArgumentNullException(nameof(entitlements)), destinations),
            store, embedder, audit, queryHasher, options, time, logger, gates, observers, releaser)
    {
    }

    /// <summary>Creates a broker that decides each operation with the policy snapshot current when the operation begins
    /// (bundle, entitlements, destinations, agent registry), so a reload swapped into the holder applies to the next one.</summary>
    public RetrievalBroker(
        PolicySnapshotHolder policy,
        IChunkStore store,
        IEmbeddingGenerator<string, Embedding<float>> embedder,
        IAuditLog audit,
        QueryHasher queryHasher,
        IOptions<RetrievalBrokerOptions>? options = null,
        TimeProvider? time = null,
        ILogger<RetrievalBroker>? logger = null,
        IEnumerable<IAccessGate>? gates = null,
        IEnumerable<IRetrievalObserver>? observers = null,
        ChunkReleaser? releaser = null)
    {
        // Without an anonymizer, field labels and obligations still apply; only entity anonymization is skipped.
        releaser ??= new ChunkReleaser(null, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(embedder);
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(queryHasher);
        var settings = options?.Value ?? new RetrievalBrokerOptions();
        Operations = new GuardedOperations(policy, audit, settings.Tenant, gates, time, logger, settings.ClaimAttributes);
        _retrieve = new RetrieveHandler(Operations, store, embedder, queryHasher, settings, releaser, observers, logger);
        _explain = new ExplainHandler(Operations, store, settings.ExplainRoles);
        _deanonymize = new DeanonymizeHandler(Operations, releaser);
        _relabel = new RelabelHandler(Operations, store);
    }

    /// <summary>Gets the guarded-operation path every operation of the broker (and the audit service) runs through.</summary>
    public GuardedOperations Operations { get; }

    /// <summary>Gets the policy bundle the broker decides with now (the current snapshot's).</summary>
    public PolicyBundle Policy => Operations.Policy;

    /// <summary>Gets the holder of the policy snapshot; each operation reads it once, at its start.</summary>
    public PolicySnapshotHolder PolicyHolder => Operations.PolicyHolder;

    /// <summary>Gets the checks every request passes first (kill switch, rate limits, anomaly responses).</summary>
    public IReadOnlyList<IAccessGate> Gates => Operations.Gates;

    /// <summary>Gets the tenant recorded in every audit record.</summary>
    public string Tenant => Operations.Tenant;

    /// <summary>Gets the resolver operations resolve callers with now (directory, agent registry, token claims,
    /// Microsoft Graph where configured), the current snapshot's; <c>policy test</c> uses the same one.</summary>
    public CallerResolver Callers => Operations.Callers;

    /// <summary>Gets the registered destinations; a request naming none, or one that is not registered, is treated as
    /// <see cref="DestinationRegistry.MostRestrictive"/> (the current snapshot's).</summary>
    public DestinationRegistry Destinations => Operations.PolicyHolder.Current.Destinations;

    /// <summary>Resolves the caller's principals, failing closed on unknown principals or unreachable entitlements.</summary>
    /// <exception cref="GuardException">The caller or its agent is unknown, or entitlements are unavailable.</exception>
    public Task<CallerPrincipals> ResolveCallerAsync(CallerIdentity caller, CancellationToken cancellationToken) =>
        Operations.ResolveAsync(caller, cancellationToken);

    /// <summary>Builds the <c>request.*</c> attributes of a request.</summary>
    public static AttributeSet RequestAttributes(string? purpose, string? destination) => PolicyRequest.Attributes(purpose, destination);

    /// <summary>Creates a policy test runner that decides as the broker does: its bundle, caller resolver, destinations
    /// and agent registry.</summary>
    /// <remarks>The runner keeps the policy snapshot current when it is created (read once), so all its cases run on one
    /// version even if the policy is reloaded meanwhile.</remarks>
    public PolicyTestRunner CreatePolicyTestRunner()
    {
        var operation = Operations.Begin();
        var snapshot = operation.Snapshot;
        return new(snapshot.Policy, operation.Callers, snapshot.Destinations, snapshot.Agents is { } agents ? [new AgentRegistryGate(agents)] : Gates.OfType<AgentRegistryGate>());
    }

    /// <summary>Retrieves the chunks the caller may see for a query.</summary>
    /// <exception cref="GuardException">The request is refused; no data was released.</exception>
    public Task<RetrievalResult> RetrieveAsync(RetrievalRequest request, CancellationToken cancellationToken) =>
        _retrieve.HandleAsync(request, cancellationToken);

    /// <summary>Explains why a chunk is or is not visible to the requester (or, for explain-role callers, to anyone).</summary>
    /// <exception cref="GuardException">The requester may not ask, or the audit record could not be written.</exception>
    public Task<ChunkExplanation> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken) =>
        _explain.HandleAsync(request, cancellationToken);

    /// <summary>Restores pseudonymized values in a text (e.g. a model's answer) for the caller's own conversation.</summary>
    /// <exception cref="GuardException">The caller may not de-anonymize, the input is invalid, or the audit write failed.</exception>
    public Task<DeanonymizeResult> DeanonymizeAsync(DeanonymizeRequest request, CancellationToken cancellationToken) =>
        _deanonymize.HandleAsync(request, cancellationToken);

    /// <summary>Changes the label of a document, for the data owner of its source; audited with the old and new label.</summary>
    /// <exception cref="GuardException">Unknown document, not the owner, unknown label, or the audit write failed.</exception>
    public Task<LabelChange> SetDocumentLabelAsync(CallerIdentity identity, string documentId, string labelName, CancellationToken cancellationToken) =>
        _relabel.HandleAsync(identity, documentId, labelName, cancellationToken);
}
