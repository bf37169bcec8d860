using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CopilotGuard.Identity;

/// <summary>Feeds every retrieval to the <see cref="AnomalyDetector"/> and carries out the configured responses:
/// alert, throttle, require a narrower purpose, or suspend through the kill switch.</summary>
/// <remarks>Throttles and purpose requirements live in this instance's memory and expire on their own; suspensions
/// go to the shared state store and last until an administrator resumes the principal. Alerts are audit records of
/// kind <c>anomaly-alert</c>, a warning log line and the <c>copilotguard.anomalies</c> counter.</remarks>
public sealed partial class AnomalyResponder : IRetrievalObserver, IAccessGate, IDisposable
{
    /// <summary>The audit record kind of an alert.</summary>
    public const string AlertKind = "anomaly-alert";

    /// <summary>The principal id that suspensions by the detector are attributed to.</summary>
    public const string SystemActor = "system:anomaly";

    /// <summary>The meter name of anomaly metrics.</summary>
    public const string MeterName = "CopilotGuard.Identity";

    private readonly AnomalyDetector _detector;
    private readonly KillSwitch _killSwitch;
    private readonly IAuditLog _audit;
    private readonly PolicySnapshotHolder _policy;
    private readonly Func<AuditedChunk, CancellationToken, ValueTask<string?>> _sourceOf;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _anomalies;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _throttledUntil = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _narrowUntil = new(StringComparer.Ordinal);

    /// <summary>Creates the responder.</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="killSwitch">The kill switch used by the <see cref="AnomalyResponse.Suspend"/> response.</param>
    /// <param name="audit">The audit log alerts are written to.</param>
    /// <param name="policy">The policy bundle (its version is recorded on alerts).</param>
    /// <param name="sourceOf">Finds the source of a returned chunk, or <see langword="null"/> when unknown.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The logger.</param>
    public AnomalyResponder(
        AnomalyDetector detector,
        KillSwitch killSwitch,
        IAuditLog audit,
        PolicyBundle policy,
        Func<AuditedChunk, CancellationToken, ValueTask<string?>>? sourceOf = null,
        TimeProvider? time = null,
        ILogger<AnomalyResponder>? logger = null)
        : this(detector, killSwitch, audit, PolicySnapshotHolder.Fixed(policy ?? throw new ArgumentNullException(nameof(policy))), sourceOf, time, logger)
    {
    }

    /// <summary>Creates the responder over the current policy snapshot (its version is recorded on alerts, so a reload
    /// applies at once).</summary>
    /// <param name="detector">The detector.</param>
    /// <param name="killSwitch">The kill switch used by the <see cref="AnomalyResponse.Suspend"/> response.</param>
    /// <param name="audit">The audit log alerts are written to.</param>
    /// <param name="policy">The holder of the current policy snapshot.</param>
    /// <param name="sourceOf">Finds the source of a returned chunk, or <see langword="null"/> when unknown.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The logger.</param>
    public AnomalyResponder(
        AnomalyDetector detector,
        KillSwitch killSwitch,
        IAuditLog audit,
        PolicySnapshotHolder policy,
        Func<AuditedChunk, CancellationToken, ValueTask<string?>>? sourceOf = null,
        TimeProvider? time = null,
        ILogger<AnomalyResponder>? logger = null)
    {
        _detector = detector ?? throw new ArgumentNullException(nameof(detector));
        _killSwitch = killSwitch ?? throw new ArgumentNullException(nameof(killSwitch));
        _audit = audit ?? throw new ArgumentNullException(nameof(audit));
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _sourceOf = sourceOf ?? (static (_, _) => ValueTask.FromResult<string?>(null));
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<AnomalyResponder>.Instance;
        _anomalies = _meter.CreateCounter<long>("copilotguard.anomalies", description: "Anomalies found, by severity and metric.");
    }

    /// <summary>Creates a source lookup that asks the chunk store once per document and remembers the answer.</summary>
    public static Func<AuditedChunk, CancellationToken, ValueTask<string?>> StoreSourceLookup(Retrieval.IChunkStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var sources = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        return async (chunk, cancellationToken) =>
        {
            if (sources.TryGetValue(chunk.DocumentId, out var known))
            {
                return known;
            }

            var stored = await store.GetAsync(chunk.ChunkId, cancellationToken).ConfigureAwait(false);
            if (stored is null)
            {
                return null;
            }

            if (sources.Count < 100_000)
            {
                sources[chunk.DocumentId] = stored.Source;
            }

            return stored.Source;
        };
    }

    /// <summary>Gets the peer group of a principal: <c>agents</c> for agents, else <c>department:X</c> when known.</summary>
    public static string? PeerGroupOf(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        if (principal.Kind == PrincipalKind.Agent)
        {
            return "agents";
        }

        return principal.Attributes.TryGet("department", out var department) && department.Length > 0 && department[0].Kind == AttributeKind.String
            ? "department:" + department[0].Text
            : null;
    }

    /// <summary>Builds the detector's observations of one audit record: one for the user and one for the agent, if any.</summary>
    public static async ValueTask<IReadOnlyList<AnomalyObservation>> ToObservationsAsync(
        AuditRecord record,
        CallerPrincipals caller,
        Func<AuditedChunk, CancellationToken, ValueTask<string?>> sourceOf,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(sourceOf);
        var chunks = ImmutableArray.CreateBuilder<(string, string, string?)>(record.Chunks.Length);
        foreach (var chunk in record.Chunks)
        {
            chunks.Add((chunk.DocumentId, chunk.Label, await sourceOf(chunk, cancellationToken).ConfigureAwait(false)));
        }

        var observed = chunks.ToImmutable();
        var observations = new List<AnomalyObservation> { new(record.Time, caller.Subject.Id, PeerGroupOf(caller.Subject), observed) };
        if (caller.Actor is not null)
        {
            observations.Add(new AnomalyObservation(record.Time, caller.Actor.Id, PeerGroupOf(caller.Actor), observed));
        }

        return observations;
    }

    /// <inheritdoc />
    public async ValueTask OnRecordedAsync(AuditRecord record, CallerPrincipals caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Kind != "retrieval" || !_detector.Options.Enabled)
        {
            return;
        }

        foreach (var observation in await ToObservationsAsync(record, caller, _sourceOf, cancellationToken).ConfigureAwait(false))
        {
            var findings = _detector.Observe(observation);
            if (findings.Count == 0)
            {
                continue;
            }

            var worst = findings.MaxBy(static f => f.Severity)!;
            await RespondAsync(worst, findings, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public ValueTask CheckAsync(CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(request);
        var now = _time.GetUtcNow();
        foreach (var principal in caller.Actor is null ? [caller.Subject] : new[] { caller.Subject, caller.Actor })
        {
            if (_throttledUntil.TryGetValue(principal.Id, out var until))
            {
                if (until > now)
                {
                    throw new GuardException(GuardErrorKind.RateLimited, $"'{principal.Id}' is throttled after unusual retrieval activity until {until:O}.") { RetryAfter = until - now };
                }

                _throttledUntil.TryRemove(new KeyValuePair<string, DateTimeOffset>(principal.Id, until));
            }

            if (_narrowUntil.TryGetValue(principal.Id, out var narrow))
            {
                if (narrow <= now)
                {
                    _narrowUntil.TryRemove(new KeyValuePair<string, DateTimeOffset>(principal.Id, narrow));
                }
                else if (string.IsNullOrWhiteSpace(request.Purpose) || _detector.Options.BroadPurposes.Contains(request.Purpose, StringComparer.OrdinalIgnoreCase))
                {
                    throw new GuardException(GuardErrorKind.Forbidden, $"After unusual retrieval activity, '{principal.Id}' must declare a specific purpose until {narrow:O}.");
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();

    private async Task RespondAsync(AnomalyFinding worst, IReadOnlyList<AnomalyFinding> findings, CancellationToken cancellationToken)
    {
        var responses = _detector.Options.ResponsesFor(worst.Severity);
        var now = _time.GetUtcNow();
        foreach (var finding in findings)
        {
            _anomalies.Add(1, new KeyValuePair<string, object?>("severity", finding.Severity.ToString()), new KeyValuePair<string, object?>("metric", finding.Metric));
        }

        var summary = string.Join("; ", findings.Select(static f => $"{f.Severity}: {f.Detail}"));
        LogAnomaly(_logger, worst.PrincipalId, worst.Severity, string.Join(",", responses), summary);
        // Protective responses first, so a failing audit write never leaves a principal unthrottled or unsuspended;
        // every response is attempted and the first failure is reported afterwards.
        Exception? failure = null;
        foreach (var response in responses.OrderBy(static r => r switch { AnomalyResponse.Alert => 3, AnomalyResponse.Suspend => 2, _ => 1 }))
        {
            try
            {
                await RespondAsync(response, worst, responses, now, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                failure ??= exception;
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    private async Task RespondAsync(AnomalyResponse response, AnomalyFinding worst, IReadOnlyList<AnomalyResponse> responses, DateTimeOffset now, CancellationToken cancellationToken)
    {
        switch (response)
        {
            case AnomalyResponse.Alert:
                var snapshot = _policy.Current;
                await _audit.AppendAsync(
                    new AuditRecord
                    {
                        RecordId = "rcpt_" + Guid.CreateVersion7().ToString("N"),
                        Kind = AlertKind,
                        Time = now,
                        SubjectId = worst.PrincipalId,
                        PolicyVersion = snapshot.Version,
                        PolicyHash = snapshot.Hash,
                        Decision = worst.Severity.ToString().ToLowerInvariant(),
                        Target = $"principal:{worst.PrincipalId} metric:{worst.Metric} baseline:{worst.Baseline} responses:{string.Join(",", responses).ToLowerInvariant()}",
                    },
                    cancellationToken).ConfigureAwait(false);
                break;
            case AnomalyResponse.Throttle:
                _throttledUntil[worst.PrincipalId] = now + _detector.Options.ThrottleDuration;
                break;
            case AnomalyResponse.RequireNarrowerPurpose:
                _narrowUntil[worst.PrincipalId] = now + _detector.Options.NarrowPurposeDuration;
                break;
            case AnomalyResponse.Suspend:
                await _killSwitch.SuspendAsync(worst.PrincipalId, $"automatic suspension after a {worst.Severity.ToString().ToLowerInvariant()} anomaly ({worst.Metric})", SystemActor, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Anomaly for {PrincipalId}: {Severity}; responses {Responses}. {Summary}")]
    private static partial void LogAnomaly(ILogger logger, string principalId, AnomalySeverity severity, string responses, string summary);
}
