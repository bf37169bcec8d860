using System.Collections.Concurrent;
using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Obligations;
using CopilotGuard.Operations;
using CopilotGuard.Policy;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CopilotGuard.Retrieval;

/// <summary>Runs one retrieval end to end through the guarded path: admit the caller, decide, push the filter down,
/// re-check every chunk, write the receipt, and only then release the chunks.</summary>
public sealed partial class RetrieveHandler
{
    private const int MaxCachedRequestAttributes = 1024;

    private readonly GuardedOperations _guard;
    private readonly IChunkStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _embedder;
    private readonly QueryHasher _queryHasher;
    private readonly RetrievalBrokerOptions _options;
    private readonly ChunkReleaser _releaser;
    private readonly IRetrievalObserver[] _observers;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Purpose, string Destination), AttributeSet> _requestAttributes = new();

    /// <summary>Creates the handler from the parts a retrieval uses.</summary>
    public RetrieveHandler(
        GuardedOperations guard,
        IChunkStore store,
        IEmbeddingGenerator<string, Embedding<float>> embedder,
        QueryHasher queryHasher,
        RetrievalBrokerOptions options,
        ChunkReleaser releaser,
        IEnumerable<IRetrievalObserver>? observers = null,
        ILogger? logger = null)
    {
        _guard = guard ?? throw new ArgumentNullException(nameof(guard));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _embedder = embedder ?? throw new ArgumentNullException(nameof(embedder));
        _queryHasher = queryHasher ?? throw new ArgumentNullException(nameof(queryHasher));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _releaser = releaser ?? throw new ArgumentNullException(nameof(releaser));
        _observers = observers?.ToArray() ?? [];
        _logger = logger ?? NullLogger.Instance;
    }

    private TimeProvider Time => _guard.Time;

    /// <summary>Retrieves the chunks the caller may see for a query.</summary>
    /// <exception cref="GuardException">The request is refused; no data was released.</exception>
    public async Task<RetrievalResult> HandleAsync(RetrievalRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var activity = RetrievalTelemetry.Start(_store.Name);
        var started = Time.GetTimestamp();
        try
        {
            var result = await RetrieveAsync(request, started, cancellationToken).ConfigureAwait(false);
            RetrievalTelemetry.Completed(activity, result.Record, Time.GetElapsedTime(started).TotalMilliseconds);
            return result;
        }
        catch (GuardException refusal)
        {
            RetrievalTelemetry.Refused(activity, refusal.Kind);
            throw;
        }
    }

    /// <summary>Scopes a conversation to its subject, so pseudonyms are never shared across callers.</summary>
    internal static string ConversationKey(CallerPrincipals caller, string conversationId) => $"{caller.Subject.Id}\u001f{conversationId}";

    /// <summary>The <c>request.*</c> attributes of a request, shared by requests with the same purpose and destination
    /// (a few distinct pairs in practice; the cache stops growing at <see cref="MaxCachedRequestAttributes"/>).</summary>
    private AttributeSet CachedRequestAttributes(string? purpose, string? destination)
    {
        var key = (purpose ?? string.Empty, destination ?? string.Empty);
        if (_requestAttributes.TryGetValue(key, out var cached))
        {
            return cached;
        }

        var attributes = PolicyRequest.Attributes(purpose, destination);
        if (_requestAttributes.Count < MaxCachedRequestAttributes)
        {
            _requestAttributes.TryAdd(key, attributes);
        }

        return attributes;
    }

    private async Task<RetrievalResult> RetrieveAsync(RetrievalRequest request, long started, CancellationToken cancellationToken)
    {
        Validate(request);
        // The policy snapshot is read once, here: the destination, the caller, the gates, the decision and the receipt
        // all use this one version even if a reload swaps the snapshot meanwhile.
        var operation = _guard.Begin();
        var target = operation.Destinations.Resolve(request.Destination);
        var destination = target.Id;
        var caller = await operation.AdmitAsync(request.Caller, new AccessRequest("retrieve", request.Purpose, destination), cancellationToken).ConfigureAwait(false);
        var resolved = Time.GetTimestamp();
        var requestAttributes = CachedRequestAttributes(request.Purpose, destination);
        var policy = operation.Policy;

        // The destination's ceiling holds whatever the bundle says: it is part of the pushed filter and of the re-check.
        var residual = target.Constrain(policy.Decide(caller, requestAttributes, out var decidingRules), policy.Labels);
        var (pushed, exact, isExact) = Filters.Split(residual, _store.Capabilities);
        var decided = Time.GetTimestamp();
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
            embedded = Time.GetTimestamp();
            var skip = 0;
            var page = request.Top;
            while (accepted.Count < request.Top && skip < _options.MaxCandidates)
            {
                var beforeStore = Time.GetTimestamp();
                var result = await _store.SearchAsync(new ChunkQuery(vector, pushed, page, skip) { Text = request.Query, Mode = request.Mode, Caller = caller, RequestAttributes = requestAttributes }, cancellationToken).ConfigureAwait(false);
                var afterStore = Time.GetTimestamp();
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

                postFilterTicks += Time.GetTimestamp() - afterStore;
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

        var record = operation.NewRecord("retrieval", caller, residual switch
        {
            ConstantFilter { Value: false } => "none",
            ConstantFilter { Value: true } => "all",
            _ => "filtered",
        });
        var beforeRelease = Time.GetTimestamp();
        var plan = _releaser.Plan(policy, caller, requestAttributes, residual, ConversationKey(caller, request.ConversationId ?? record.RecordId), target);
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

        postFilterTicks += Time.GetTimestamp() - beforeRelease;
        var chunks = released.Select(static r => new ScoredChunk(r.Item2.Chunk, r.scored.Score)).ToImmutableArray();
        record = record with
        {
            Time = Time.GetUtcNow(),
            DecidingRules = decidingRules,
            Purpose = request.Purpose,
            Destination = destination,
            ClientAddress = request.ClientAddress,
            ConversationId = request.ConversationId,
            QueryHash = _queryHasher.Hash(request.Query),
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

        await operation.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        await NotifyAsync(record, caller, cancellationToken).ConfigureAwait(false);
        return new RetrievalResult(record.RecordId, chunks, record);
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

    private double Milliseconds(long from, long to) => Time.GetElapsedTime(from, to).TotalMilliseconds;

    private void Validate(RetrievalRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Query))
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, "The query must not be empty.");
        }

        if (request.Query.Length > _options.MaxQueryLength)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, $"The query is {request.Query.Length} characters long; the limit is {_options.MaxQueryLength}.");
        }

        if (request.Top < 1 || request.Top > _options.MaxTop)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, $"top must be between 1 and {_options.MaxTop}.");
        }

        if (!Enum.IsDefined(request.Mode))
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, RetrievalModes.UnknownModeMessage);
        }

        if (!_store.SupportedModes.Contains(request.Mode))
        {
            var supported = RetrievalModes.All.Where(_store.SupportedModes.Contains).Select(RetrievalModes.Name);
            throw new GuardException(GuardErrorKind.InvalidRequest, $"mode '{RetrievalModes.Name(request.Mode)}' is not supported by the {_store.Name} store, which supports: {string.Join(", ", supported)}.");
        }

        foreach (var (name, value) in (ReadOnlySpan<(string, string?)>)[("purpose", request.Purpose), ("destination", request.Destination), ("conversationId", request.ConversationId)])
        {
            if (value is { Length: > 256 })
            {
                throw new GuardException(GuardErrorKind.InvalidRequest, $"{name} is longer than 256 characters.");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pushdown miss: store {Store} returned chunk {ChunkId} that the policy denies; it was dropped.")]
    private static partial void LogPushdownMiss(ILogger logger, string store, string chunkId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retrieval observer {Observer} failed; the request was not affected.")]
    private static partial void LogObserverFailure(ILogger logger, Exception exception, string observer);
}
