using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Retrieval;

/// <summary>Runs one retrieval end to end: resolve the caller, decide, push the filter down, re-check every chunk,
/// write the audit record, and only then release the chunks.</summary>
public sealed partial class RetrievalBroker
{
    /// <summary>The destination assumed when a request does not declare one.</summary>
    public const string DefaultDestination = "external";

    private readonly PolicySnapshotHolder _holder;
    private volatile PolicyView? _view;
    private readonly IChunkStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _embedder;
    private readonly IAuditLog _audit;
    private readonly QueryHasher _queryHasher;
    private readonly RetrievalBrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IAccessGate[] _gates;
    private readonly IRetrievalObserver[] _observers;
    private readonly ChunkReleaser _releaser;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Purpose, string Destination), AttributeSet> _requestAttributes = new();
    private const int MaxCachedRequestAttributes = 1024;

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

    /// <summary>Creates a broker that decides each request with the policy snapshot current when the request starts
    /// (bundle, entitlements, destinations, agent registry), so a reload swapped into the holder applies to the next request.</summary>
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
        _releaser = releaser ?? new ChunkReleaser(null, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        _gates = gates?.ToArray() ?? [];
        _observers = observers?.ToArray() ?? [];
        _holder = policy ?? throw new ArgumentNullException(nameof(policy));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _embedder = embedder ?? throw new ArgumentNullException(nameof(embedder));
        _audit = audit ?? throw new ArgumentNullException(nameof(audit));
        _queryHasher = queryHasher ?? throw new ArgumentNullException(nameof(queryHasher));
        _options = options?.Value ?? new RetrievalBrokerOptions();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<RetrievalBroker>.Instance;
    }

    /// <summary>Gets the policy bundle the broker decides with now (the current snapshot's).</summary>
    public PolicyBundle Policy => _holder.Current.Policy;

    /// <summary>Gets the holder of the policy snapshot; each operation reads it once, at its start.</summary>
    public PolicySnapshotHolder PolicyHolder => _holder;

    /// <summary>Gets the checks every request passes first (kill switch, rate limits, anomaly responses), for other services to share.</summary>
    public IReadOnlyList<IAccessGate> Gates => _gates;

    /// <summary>Gets the tenant recorded in every audit record.</summary>
    public string Tenant => _options.Tenant;

    /// <summary>Gets the resolver every operation resolves callers with (directory, agent registry, token claims,
    /// Microsoft Graph where configured); <c>policy test</c> uses the same one.</summary>
    public CallerResolver Callers => Begin().Callers;

    /// <summary>Gets the registered destinations; a request naming none, or one that is not registered, is treated as
    /// <see cref="DestinationRegistry.MostRestrictive"/>.</summary>
    public DestinationRegistry Destinations => _holder.Current.Destinations;

    /// <summary>Resolves the caller's principals, failing closed on unknown principals or unreachable entitlements.</summary>
    /// <exception cref="RetrievalException">The caller or its agent is unknown, or entitlements are unavailable.</exception>
    public Task<CallerPrincipals> ResolveCallerAsync(CallerIdentity caller, CancellationToken cancellationToken) =>
        Begin().Callers.ResolveAsync(caller, cancellationToken);

    /// <summary>Reads the current policy snapshot once, for one operation, with the caller resolver over its entitlements
    /// (made once per snapshot).</summary>
    private PolicyView Begin()
    {
        var snapshot = _holder.Current;
        var view = _view;
        if (view is null || !ReferenceEquals(view.Snapshot, snapshot))
        {
            view = new PolicyView(snapshot, new CallerResolver(snapshot.Entitlements, _options.ClaimAttributes));
            _view = view;
        }

        return view;
    }

    /// <summary>The policy snapshot one operation decides with, and the resolver over its entitlements.</summary>
    private sealed record PolicyView(PolicySnapshot Snapshot, CallerResolver Callers)
    {
        public PolicyBundle Policy => Snapshot.Policy;
    }

    /// <summary>Builds the <c>request.*</c> attributes of a request.</summary>
    public static AttributeSet RequestAttributes(string? purpose, string? destination)
    {
        var builder = new AttributeSetBuilder().Add("destination", string.IsNullOrWhiteSpace(destination) ? DefaultDestination : destination);
        if (!string.IsNullOrWhiteSpace(purpose))
        {
            builder.Add("purpose", purpose);
        }

        return builder.Build();
    }

    /// <summary>The <c>request.*</c> attributes of a request, shared by requests with the same purpose and destination
    /// (a few distinct pairs in practice; the cache stops growing at <see cref="MaxCachedRequestAttributes"/>).</summary>
    private AttributeSet CachedRequestAttributes(string? purpose, string? destination)
    {
        var key = (purpose ?? string.Empty, destination ?? string.Empty);
        if (_requestAttributes.TryGetValue(key, out var cached))
        {
            return cached;
        }

        var attributes = RequestAttributes(purpose, destination);
        if (_requestAttributes.Count < MaxCachedRequestAttributes)
        {
            _requestAttributes.TryAdd(key, attributes);
        }

        return attributes;
    }

    /// <summary>Retrieves the chunks the caller may see for a query.</summary>
    /// <exception cref="RetrievalException">The request is refused; no data was released.</exception>
    public async Task<RetrievalResult> RetrieveAsync(RetrievalRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var activity = RetrievalTelemetry.Start(_store.Name);
        var started = _time.GetTimestamp();
        try
        {
            var result = await RetrieveCoreAsync(request, started, cancellationToken).ConfigureAwait(false);
            RetrievalTelemetry.Completed(activity, result.Record, _time.GetElapsedTime(started).TotalMilliseconds);
            return result;
        }
        catch (RetrievalException refusal)
        {
            RetrievalTelemetry.Refused(activity, refusal.Kind);
            throw;
        }
    }

    private async Task<RetrievalResult> RetrieveCoreAsync(RetrievalRequest request, long started, CancellationToken cancellationToken)
    {
        Validate(request);
        var view = Begin();
        var policy = view.Policy;
        var caller = await view.Callers.ResolveAsync(request.Caller, cancellationToken).ConfigureAwait(false);
        var target = view.Snapshot.Destinations.Resolve(request.Destination);
        var destination = target.Id;
        await CheckGatesAsync(view.Snapshot, caller, new AccessRequest("retrieve", request.Purpose, destination), cancellationToken).ConfigureAwait(false);
        var resolved = _time.GetTimestamp();
        var requestAttributes = CachedRequestAttributes(request.Purpose, destination);

        // The destination's ceiling holds whatever the bundle says: it is part of the pushed filter and of the re-check.
        var residual = target.Constrain(policy.Decide(caller, requestAttributes, out var decidingRules), policy.Labels);
        var (pushed, exact, isExact) = Filters.Split(residual, _store.Capabilities);
        var decided = _time.GetTimestamp();
        long embedded = decided, storeTicks = 0, postFilterTicks = 0;

        var accepted = ImmutableArray.CreateBuilder<ScoredChunk>(request.Top);
        var drops = ImmutableArray.CreateBuilder<DroppedChunk>(0);
        string? nativeFilter = null;
        if (residual is not ConstantFilter { Value: false })
        {
            // A keyword search ranks by text alone, so the query is never sent to the embedder.
            var vector = request.Mode == RetrievalMode.Keyword
                ? ReadOnlyMemory<float>.Empty
                : await _embedder.GenerateVectorAsync(request.Query, cancellationToken: cancellationToken).ConfigureAwait(false);
            embedded = _time.GetTimestamp();
            var skip = 0;
            var page = request.Top;
            while (accepted.Count < request.Top && skip < _options.MaxCandidates)
            {
                var beforeStore = _time.GetTimestamp();
                var result = await _store.SearchAsync(new ChunkQuery(vector, pushed, page, skip) { Text = request.Query, Mode = request.Mode, Caller = caller, RequestAttributes = requestAttributes }, cancellationToken).ConfigureAwait(false);
                var afterStore = _time.GetTimestamp();
                storeTicks += afterStore - beforeStore;
                nativeFilter = result.NativeFilter;
                foreach (var candidate in result.Chunks)
                {
                    if (!FilterEvaluator.Matches(exact, candidate.Chunk.ResourceAttributes))
                    {
                        drops.Add(new DroppedChunk(candidate.Chunk.Id, candidate.Chunk.DocumentId, FilterEvaluator.ExplainFailure(exact, candidate.Chunk.ResourceAttributes)));
                        if (isExact)
                        {
                            LogPushdownMiss(_logger, _store.Name, candidate.Chunk.Id);
                        }

                        continue;
                    }

                    if (accepted.Count < request.Top)
                    {
                        accepted.Add(candidate);
                    }
                }

                postFilterTicks += _time.GetTimestamp() - afterStore;
                if (result.Exhausted)
                {
                    break;
                }

                if (result.Chunks.Count == 0)
                {
                    break;
                }

                skip += result.Chunks.Count;
                page = Math.Min(page * 2, _options.MaxCandidates);
            }
        }

        var recordId = "rcpt_" + Guid.CreateVersion7().ToString("N");
        var beforeRelease = _time.GetTimestamp();
        var plan = _releaser.Plan(policy, caller, requestAttributes, residual, ConversationKey(caller, request.ConversationId ?? recordId), target);
        var acceptedChunks = new Chunk[accepted.Count];
        for (var i = 0; i < acceptedChunks.Length; i++)
        {
            acceptedChunks[i] = accepted[i].Chunk;
        }

        // One batch for all chunks (one vault read, at most one write): new pseudonyms are persisted before anything
        // is released; a vault failure fails the request.
        var releasedChunks = await plan.ReleaseAllAsync(acceptedChunks, cancellationToken).ConfigureAwait(false);
        var released = new List<(ScoredChunk scored, ReleasedChunk)>(accepted.Count);
        for (var i = 0; i < acceptedChunks.Length; i++)
        {
            released.Add((accepted[i], releasedChunks[i]));
        }

        postFilterTicks += _time.GetTimestamp() - beforeRelease;
        var chunks = released.Select(static r => new ScoredChunk(r.Item2.Chunk, r.scored.Score)).ToImmutableArray();
        var record = new AuditRecord
        {
            RecordId = recordId,
            Kind = "retrieval",
            Tenant = _options.Tenant,
            DecidingRules = decidingRules,
            Time = _time.GetUtcNow(),
            SubjectId = caller.Subject.Id,
            ActorId = caller.Actor?.Id,
            Purpose = request.Purpose,
            Destination = destination,
            ClientAddress = request.ClientAddress,
            ConversationId = request.ConversationId,
            QueryHash = _queryHasher.Hash(request.Query),
            PolicyVersion = policy.Version,
            PolicyHash = policy.Sha256,
            Decision = residual switch
            {
                ConstantFilter { Value: false } => "none",
                ConstantFilter { Value: true } => "all",
                _ => "filtered",
            },
            Store = _store.Name,
            PushedFilter = nativeFilter,
            Mode = request.Mode == RetrievalMode.Vector ? null : RetrievalModes.Name(request.Mode),
            Chunks = [.. released.Select(static pair => new AuditedChunk
            {
                ChunkId = pair.scored.Chunk.Id,
                DocumentId = pair.scored.Chunk.DocumentId,
                Source = pair.scored.Chunk.Source,
                Version = pair.scored.Chunk.Version,
                ContentSha256 = pair.scored.Chunk.ContentSha256,
                Label = pair.scored.Chunk.Label.Name,
                Score = pair.scored.Score,
                Subjects = pair.scored.Chunk.Subjects,
                FieldsWithheld = pair.Item2.FieldsWithheld.IsEmpty ? null : pair.Item2.FieldsWithheld.ToImmutableSortedDictionary(StringComparer.Ordinal),
                AnonymizedEntities = pair.Item2.Entities.IsEmpty ? null : pair.Item2.Entities.ToImmutableSortedDictionary(StringComparer.Ordinal),
            })],
            PostFilterDrops = [.. drops.Select(static drop => drop.ChunkId)],
            PostFilterDropReasons = drops.ToImmutable(),
            PushdownExact = isExact,
            Timings = new StageTimings(
                Milliseconds(started, resolved),
                Milliseconds(resolved, decided),
                Milliseconds(decided, embedded),
                Milliseconds(0, storeTicks),
                Milliseconds(0, postFilterTicks)),
        };

        await AppendAsync(record, cancellationToken).ConfigureAwait(false);
        await NotifyAsync(record, caller, cancellationToken).ConfigureAwait(false);
        return new RetrievalResult(record.RecordId, chunks, record);
    }

    /// <summary>Explains why a chunk is or is not visible to the requester (or, for explain-role callers, to anyone).</summary>
    /// <remarks>A caller without an explain role learns nothing about chunks it cannot see, not even whether they exist.
    /// Every explanation is audited.</remarks>
    /// <exception cref="RetrievalException">The requester may not ask, or the audit record could not be written.</exception>
    public async Task<ChunkExplanation> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.ChunkId) || request.ChunkId.Length > 512)
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, "chunkId is required and at most 512 characters long.");
        }

        var view = Begin();
        var policy = view.Policy;
        var requester = await view.Callers.ResolveAsync(request.Requester, cancellationToken).ConfigureAwait(false);
        var target = view.Snapshot.Destinations.Resolve(request.Destination);
        await CheckGatesAsync(view.Snapshot, requester, new AccessRequest("policy-explain", request.Purpose, target.Id), cancellationToken).ConfigureAwait(false);
        var privileged = HasExplainRole(requester.Subject) && requester.Actor is null;
        var subjectIdentity = request.Subject ?? request.Requester;
        if (!subjectIdentity.SamePrincipalsAs(request.Requester) && !privileged)
        {
            throw new RetrievalException(RetrievalErrorKind.Forbidden, $"Only principals with one of the roles {string.Join(", ", _options.ExplainRoles)} may explain another principal's view.");
        }

        var caller = subjectIdentity.SamePrincipalsAs(request.Requester) ? requester : await view.Callers.ResolveAsync(subjectIdentity, cancellationToken).ConfigureAwait(false);
        var requestAttributes = RequestAttributes(request.Purpose, target.Id);

        // An agent the registry refuses for this purpose or destination gets nothing from retrieval, so nothing is visible.
        var refusal = _gates.OfType<AgentRegistryGate>().Select(gate => gate.Refusal(caller, request.Purpose, target.Id, view.Snapshot)).FirstOrDefault(static r => r is not null);
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

        await AppendAsync(NewRecord(view.Snapshot, "policy-explain", requester, visible ? "visible" : "hidden") with
        {
            Purpose = request.Purpose,
            Destination = target.Id,
            Store = _store.Name,
            Target = $"chunk:{request.ChunkId} as:{caller.Subject.Id}{(caller.Actor is null ? string.Empty : "+" + caller.Actor.Id)}",
        }, cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Runs every gate; a refusal is itself audited (kind <c>refused</c>) before it reaches the caller.</summary>
    private async ValueTask CheckGatesAsync(PolicySnapshot snapshot, CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
    {
        request = request with { Snapshot = snapshot };
        foreach (var gate in _gates)
        {
            try
            {
                await gate.CheckAsync(caller, request, cancellationToken).ConfigureAwait(false);
            }
            catch (RetrievalException refusal) when (refusal.Kind is RetrievalErrorKind.Forbidden or RetrievalErrorKind.RateLimited)
            {
                await AppendAsync(NewRecord(snapshot, "refused", caller, refusal.Kind == RetrievalErrorKind.RateLimited ? "rate-limited" : "forbidden") with
                {
                    Purpose = request.Purpose,
                    Destination = request.Destination,
                    Target = $"operation:{request.Operation} gate:{gate.GetType().Name}",
                }, cancellationToken).ConfigureAwait(false);
                throw;
            }
        }
    }

    private async ValueTask NotifyAsync(AuditRecord record, CallerPrincipals caller, CancellationToken cancellationToken)
    {
        foreach (var observer in _observers)
        {
            try
            {
                await observer.OnRecordedAsync(record, caller, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                LogObserverFailure(_logger, exception, observer.GetType().Name);
            }
        }
    }

    private double Milliseconds(long from, long to) => _time.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>Restores pseudonymized values in a text (e.g. a model's answer) for the caller's own conversation.</summary>
    /// <remarks>Allowed only when a de-anonymization grant of the policy matches the caller (both principals, when an
    /// agent acts for a user). Pseudonyms are scoped to the caller, so nobody can restore another caller's conversation.
    /// Every attempt, granted or refused, is audited with the number of values restored (never the values).</remarks>
    /// <exception cref="RetrievalException">The caller may not de-anonymize, the input is invalid, or the audit write failed.</exception>
    public async Task<DeanonymizeResult> DeanonymizeAsync(DeanonymizeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.ConversationId) || request.ConversationId.Length > 256)
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, "conversationId is required and at most 256 characters long.");
        }

        if (request.Text is null || request.Text.Length > 1_000_000)
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, "text is required and at most 1,000,000 characters long.");
        }

        var view = Begin();
        var caller = await view.Callers.ResolveAsync(request.Caller, cancellationToken).ConfigureAwait(false);
        await CheckGatesAsync(view.Snapshot, caller, new AccessRequest("deanonymize", null, "internal"), cancellationToken).ConfigureAwait(false);
        var grant = view.Policy.DeanonymizationGrant(caller, RequestAttributes(null, "internal"));
        var anonymizer = _releaser.Anonymizer;
        var restored = 0;
        string? text = null;
        if (grant is not null && anonymizer is not null)
        {
            var result = await anonymizer.DeanonymizeAsync(request.Text, new Anonymization.AnonymizationPolicy { AllowDeanonymization = true }, new Anonymization.AnonymizationContext(ConversationKey(caller, request.ConversationId)), cancellationToken).ConfigureAwait(false);
            (text, restored) = (result.Text, result.Restored);
        }

        await AppendAsync(NewRecord(view.Snapshot, "deanonymize", caller, text is null ? "refused" : $"restored:{restored}") with
        {
            Destination = "internal",
            ConversationId = request.ConversationId,
            Target = grant is null ? null : $"grant:{grant}",
        }, cancellationToken).ConfigureAwait(false);

        return text is null
            ? throw new RetrievalException(RetrievalErrorKind.Forbidden, "The policy does not allow this caller to restore pseudonymized values.")
            : new DeanonymizeResult(text, restored);
    }

    /// <summary>Changes the label of a document, for the data owner of its source; audited with the old and new label.</summary>
    /// <remarks>The caller must be the document's owner (its <c>owner</c> attribute, set per source) or hold the
    /// <c>data-owner</c> role with the source in <c>principal.ownedSources</c>. A caller who may not relabel a document
    /// learns nothing about it (404 and 403 are not distinguished for documents the caller cannot see). The record is
    /// written before the change, so no change is ever unaudited.</remarks>
    /// <exception cref="RetrievalException">Unknown document, not the owner, unknown label, or the audit write failed.</exception>
    public async Task<LabelChange> SetDocumentLabelAsync(CallerIdentity identity, string documentId, string labelName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (string.IsNullOrWhiteSpace(documentId) || documentId.Length > 512)
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, "The document id is required and at most 512 characters long.");
        }

        var view = Begin();
        if (!view.Policy.Labels.TryGet(labelName ?? string.Empty, out var label))
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, $"Unknown sensitivity label '{labelName}'. Known labels: {string.Join(", ", view.Policy.Labels.Labels)}.");
        }

        var caller = await view.Callers.ResolveAsync(identity, cancellationToken).ConfigureAwait(false);
        if (caller.Actor is not null)
        {
            throw new RetrievalException(RetrievalErrorKind.Forbidden, "Labels are changed by data owners themselves, not by agents acting for them.");
        }

        await CheckGatesAsync(view.Snapshot, caller, new AccessRequest("label-change", null, "internal"), cancellationToken).ConfigureAwait(false);
        var chunks = await _store.GetDocumentAsync(documentId, cancellationToken).ConfigureAwait(false);
        if (chunks.Count == 0 || !chunks.All(chunk => OwnsSource(caller.Subject, chunk)))
        {
            throw new RetrievalException(RetrievalErrorKind.NotFound, $"No document '{documentId}' that you own was found.");
        }

        var previous = chunks.Select(static c => c.Label.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        await AppendAsync(NewRecord(view.Snapshot, "label-change", caller, $"{string.Join("|", previous)} -> {label.Name}") with
        {
            Store = _store.Name,
            Target = $"document:{documentId}",
        }, cancellationToken).ConfigureAwait(false);
        var changed = await _store.SetDocumentLabelAsync(documentId, label, cancellationToken).ConfigureAwait(false);
        return new LabelChange(documentId, previous, label.Name, changed);
    }

    private static bool OwnsSource(Principal principal, Chunk chunk) =>
        (chunk.Attributes.TryGet("owner", out var owners) && owners.Any(owner => owner.Kind == AttributeKind.String && owner.Text == principal.Id))
        || (principal.Attributes.TryGet("roles", out var roles) && roles.Any(static r => r.Text == "data-owner")
            && principal.Attributes.TryGet("ownedSources", out var sources) && sources.Any(s => s.Text == chunk.Source));

    /// <summary>Starts an audit record of a kind for a caller under the operation's policy snapshot; callers add what is specific.</summary>
    private AuditRecord NewRecord(PolicySnapshot snapshot, string kind, CallerPrincipals caller, string decision) => new()
    {
        RecordId = "rcpt_" + Guid.CreateVersion7().ToString("N"),
        Kind = kind,
        Tenant = _options.Tenant,
        Time = _time.GetUtcNow(),
        SubjectId = caller.Subject.Id,
        ActorId = caller.Actor?.Id,
        PolicyVersion = snapshot.Version,
        PolicyHash = snapshot.Hash,
        Decision = decision,
    };

    /// <summary>Scopes a conversation to its subject, so pseudonyms are never shared across callers.</summary>
    private static string ConversationKey(CallerPrincipals caller, string conversationId) => $"{caller.Subject.Id}\u001f{conversationId}";

    private bool HasExplainRole(Principal principal) =>
        principal.Attributes.TryGet("roles", out var roles)
        && roles.Any(role => role.Kind == AttributeKind.String && _options.ExplainRoles.Contains(role.Text, StringComparer.Ordinal));

    private async Task AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        try
        {
            await _audit.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogAuditFailure(_logger, exception, record.RecordId);
            throw new RetrievalException(RetrievalErrorKind.AuditUnavailable, "The audit record could not be written, so no data was released.", exception);
        }
    }

    private void Validate(RetrievalRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Query))
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, "The query must not be empty.");
        }

        if (request.Query.Length > _options.MaxQueryLength)
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, $"The query is {request.Query.Length} characters long; the limit is {_options.MaxQueryLength}.");
        }

        if (request.Top < 1 || request.Top > _options.MaxTop)
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, $"top must be between 1 and {_options.MaxTop}.");
        }

        if (!Enum.IsDefined(request.Mode))
        {
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, RetrievalModes.UnknownModeMessage);
        }

        if (!_store.SupportedModes.Contains(request.Mode))
        {
            var supported = RetrievalModes.All.Where(_store.SupportedModes.Contains).Select(RetrievalModes.Name);
            throw new RetrievalException(RetrievalErrorKind.InvalidRequest, $"mode '{RetrievalModes.Name(request.Mode)}' is not supported by the {_store.Name} store, which supports: {string.Join(", ", supported)}.");
        }

        foreach (var (name, value) in (ReadOnlySpan<(string, string?)>)[("purpose", request.Purpose), ("destination", request.Destination), ("conversationId", request.ConversationId)])
        {
            if (value is { Length: > 256 })
            {
                throw new RetrievalException(RetrievalErrorKind.InvalidRequest, $"{name} is longer than 256 characters.");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pushdown miss: store {Store} returned chunk {ChunkId} that the policy denies; it was dropped.")]
    private static partial void LogPushdownMiss(ILogger logger, string store, string chunkId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retrieval observer {Observer} failed; the request was not affected.")]
    private static partial void LogObserverFailure(ILogger logger, Exception exception, string observer);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit append failed for {RecordId}; the retrieval was refused.")]
    private static partial void LogAuditFailure(ILogger logger, Exception exception, string recordId);
}
