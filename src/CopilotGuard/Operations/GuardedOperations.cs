using CopilotGuard.Audit;
using CopilotGuard.Identity;
using CopilotGuard.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CopilotGuard.Operations;

/// <summary>The one path every guarded operation (retrieve, explain, de-anonymize, relabel, audit queries and the
/// console reads behind them) takes: resolve the caller, run the gates, stamp the tenant and the policy version on
/// every record, audit refusals, and append fail-closed, so that nothing is released when the record cannot be written.</summary>
/// <remarks>Each operation starts with <see cref="Begin"/>, which reads the policy snapshot once; the returned
/// <see cref="GuardedOperation"/> does the rest with that snapshot. In order: <see cref="GuardedOperation.AdmitAsync(CallerIdentity, AccessRequest, Action{CallerPrincipals}?, CancellationToken)"/>
/// resolves the caller (failing closed on unknown principals or unreachable entitlements), applies the operation's own
/// precondition, and runs every gate; a gate's refusal is appended as one <c>refused</c> record before it reaches the
/// caller. The operation then builds its record with <see cref="GuardedOperation.NewRecord(string, CallerPrincipals, string)"/> and
/// appends it with <see cref="GuardedOperation.AppendAsync(AuditRecord, CancellationToken)"/> before releasing anything.</remarks>
public sealed partial class GuardedOperations
{
    /// <summary>The record id prefix of retrieval receipts and the records of most operations.</summary>
    public const string ReceiptPrefix = "rcpt_";

    private const string DefaultAuditFailure = "The audit record could not be written, so no data was released.";

    private readonly PolicySnapshotHolder _holder;
    private readonly IReadOnlyList<string>? _claimAttributes;
    private readonly IAuditLog _audit;
    private readonly IAccessGate[] _gates;
    private readonly ILogger _logger;
    private readonly CallerResolver? _fixedCallers;
    private volatile GuardedOperation? _current;

    /// <summary>Creates the pipeline over one fixed policy bundle and caller resolver (no reloads).</summary>
    /// <param name="callers">Resolves callers into principals.</param>
    /// <param name="policy">The policy whose version every record names.</param>
    /// <param name="audit">The log every record is appended to.</param>
    /// <param name="tenant">The tenant every record names.</param>
    /// <param name="gates">The checks every caller passes first (kill switch, rate limits, anomaly responses); none when <see langword="null"/>.</param>
    /// <param name="time">The clock for record times.</param>
    /// <param name="logger">Where failed appends are logged.</param>
    public GuardedOperations(CallerResolver callers, PolicyBundle policy, IAuditLog audit, string tenant, IEnumerable<IAccessGate>? gates = null, TimeProvider? time = null, ILogger? logger = null)
        : this(PolicySnapshotHolder.Fixed(policy ?? throw new ArgumentNullException(nameof(policy)), (callers ?? throw new ArgumentNullException(nameof(callers))).Entitlements), audit, tenant, gates, time, logger, callers.ClaimAttributes)
    {
        _fixedCallers = callers;
    }

    /// <summary>Creates the pipeline over a policy snapshot holder: each operation decides with the snapshot current when
    /// it begins (<see cref="Begin"/>), so a reload swapped into the holder applies from the next operation on.</summary>
    /// <param name="policy">The holder of the current policy snapshot (bundle, entitlements, destinations, agent registry).</param>
    /// <param name="audit">The log every record is appended to.</param>
    /// <param name="tenant">The tenant every record names.</param>
    /// <param name="gates">The checks every caller passes first (kill switch, rate limits, anomaly responses); none when <see langword="null"/>.</param>
    /// <param name="time">The clock for record times.</param>
    /// <param name="logger">Where failed appends are logged.</param>
    /// <param name="claimAttributes">The token claims mapped to principal attributes by the caller resolver of each snapshot.</param>
    public GuardedOperations(PolicySnapshotHolder policy, IAuditLog audit, string tenant, IEnumerable<IAccessGate>? gates = null, TimeProvider? time = null, ILogger? logger = null, IEnumerable<string>? claimAttributes = null)
    {
        _holder = policy ?? throw new ArgumentNullException(nameof(policy));
        _audit = audit ?? throw new ArgumentNullException(nameof(audit));
        Tenant = tenant ?? throw new ArgumentNullException(nameof(tenant));
        _gates = gates?.ToArray() ?? [];
        Time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _claimAttributes = claimAttributes?.ToArray();
    }

    /// <summary>Gets the holder of the policy snapshot; each operation reads it once, in <see cref="Begin"/>.</summary>
    public PolicySnapshotHolder PolicyHolder => _holder;

    /// <summary>Gets the resolver of the current snapshot (for one-off resolutions outside an operation).</summary>
    public CallerResolver Callers => Begin().Callers;

    /// <summary>Gets the current policy bundle (for one-off reads outside an operation).</summary>
    public PolicyBundle Policy => _holder.Current.Policy;

    /// <summary>Gets the tenant every record names.</summary>
    public string Tenant { get; }

    /// <summary>Gets the checks every caller passes first.</summary>
    public IReadOnlyList<IAccessGate> Gates => _gates;

    /// <summary>Gets the clock record times come from.</summary>
    public TimeProvider Time { get; }

    /// <summary>Begins one operation: reads the current policy snapshot once and returns it with the caller resolver over
    /// its entitlements (made once per snapshot). The operation resolves, gates, decides and stamps its records with that
    /// one snapshot, so it never mixes two policy versions even while a reload swaps the holder.</summary>
    public GuardedOperation Begin()
    {
        var snapshot = _holder.Current;
        var current = _current;
        if (current is null || !ReferenceEquals(current.Snapshot, snapshot))
        {
            var callers = _fixedCallers is not null && ReferenceEquals(snapshot.Entitlements, _fixedCallers.Entitlements)
                ? _fixedCallers
                : new CallerResolver(snapshot.Entitlements, _claimAttributes);
            current = new GuardedOperation(this, snapshot, callers);
            _current = current;
        }

        return current;
    }

    /// <summary>Resolves principals without running the gates, with the current snapshot: for principals an admitted
    /// caller asks about, never for the caller itself. Within an operation use <see cref="GuardedOperation.ResolveAsync"/>.</summary>
    /// <exception cref="GuardException">The principal or its agent is unknown, or entitlements are unavailable.</exception>
    public Task<CallerPrincipals> ResolveAsync(CallerIdentity identity, CancellationToken cancellationToken) =>
        Begin().ResolveAsync(identity, cancellationToken);

    /// <summary>Begins an operation and admits its caller (see <see cref="GuardedOperation.AdmitAsync(CallerIdentity, AccessRequest, Action{CallerPrincipals}?, CancellationToken)"/>).</summary>
    /// <exception cref="GuardException">The caller is unknown, entitlements are unavailable, or a gate refused (that
    /// refusal is audited), or the refusal could not be audited.</exception>
    public Task<CallerPrincipals> AdmitAsync(CallerIdentity identity, AccessRequest request, CancellationToken cancellationToken) =>
        Begin().AdmitAsync(identity, request, precondition: null, cancellationToken);

    /// <summary>Starts a record stamped with the current snapshot's policy version; within an operation use
    /// <see cref="GuardedOperation.NewRecord(string, CallerPrincipals, string)"/>.</summary>
    public AuditRecord NewRecord(string kind, CallerPrincipals caller, string decision) => Begin().NewRecord(kind, caller, decision);

    /// <summary>Starts a record for a subject (and actor), stamped with the current snapshot's policy version.</summary>
    public AuditRecord NewRecord(string kind, string subjectId, string? actorId, string decision, string idPrefix = ReceiptPrefix) =>
        Begin().NewRecord(kind, subjectId, actorId, decision, idPrefix);

    /// <summary>Appends a record, stamped with the tenant (and, when it names none, the current policy version), before
    /// anything is released. A record started by an operation keeps the policy version it was decided with.</summary>
    /// <exception cref="GuardException">The record could not be written (<see cref="GuardErrorKind.AuditUnavailable"/>).</exception>
    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken) =>
        AppendAsync(record, DefaultAuditFailure, cancellationToken);

    /// <summary>Appends a record as <see cref="AppendAsync(AuditRecord, CancellationToken)"/> does, refusing with
    /// <paramref name="failureMessage"/> when it cannot be written.</summary>
    /// <exception cref="GuardException">The record could not be written (<see cref="GuardErrorKind.AuditUnavailable"/>).</exception>
    public Task<AuditEntry> AppendAsync(AuditRecord record, string failureMessage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (string.IsNullOrEmpty(record.PolicyVersion) || string.IsNullOrEmpty(record.PolicyHash))
        {
            return Begin().AppendAsync(record, failureMessage, cancellationToken);
        }

        return AppendStampedAsync(record.Tenant == Tenant ? record : record with { Tenant = Tenant }, failureMessage, cancellationToken);
    }

    /// <summary>Runs every gate for an admitted caller, with the request carrying the operation's snapshot.</summary>
    internal async Task CheckGatesAsync(GuardedOperation operation, CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
    {
        request = request with { Snapshot = operation.Snapshot };
        foreach (var gate in _gates)
        {
            try
            {
                await gate.CheckAsync(caller, request, cancellationToken).ConfigureAwait(false);
            }
            catch (GuardException refusal) when (refusal.Kind is GuardErrorKind.Forbidden or GuardErrorKind.RateLimited)
            {
                await operation.AppendAsync(operation.NewRecord("refused", caller, refusal.Kind == GuardErrorKind.RateLimited ? "rate-limited" : "forbidden") with
                {
                    Purpose = request.Purpose,
                    Destination = request.Destination,
                    Target = $"operation:{request.Operation} gate:{gate.GetType().Name}",
                }, cancellationToken).ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>Appends a record already stamped with the tenant and a policy version, failing closed.</summary>
    internal async Task<AuditEntry> AppendStampedAsync(AuditRecord stamped, string failureMessage, CancellationToken cancellationToken)
    {
        try
        {
            return await _audit.AppendAsync(stamped, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogAuditFailure(_logger, exception, stamped.RecordId, stamped.Kind);
            throw new GuardException(GuardErrorKind.AuditUnavailable, failureMessage, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit append failed for {RecordId} ({Kind}); the operation was refused.")]
    private static partial void LogAuditFailure(ILogger logger, Exception exception, string recordId, string kind);
}

/// <summary>One guarded operation: the policy snapshot it read once at its start (<see cref="GuardedOperations.Begin"/>)
/// and the caller resolver over that snapshot's entitlements. Everything the operation resolves, gates, decides and
/// records uses this snapshot.</summary>
public sealed class GuardedOperation
{
    private const string DefaultAuditFailure = "The audit record could not be written, so no data was released.";

    private readonly GuardedOperations _guard;

    internal GuardedOperation(GuardedOperations guard, PolicySnapshot snapshot, CallerResolver callers)
    {
        _guard = guard;
        Snapshot = snapshot;
        Callers = callers;
    }

    /// <summary>Gets the policy snapshot the operation decides with.</summary>
    public PolicySnapshot Snapshot { get; }

    /// <summary>Gets the policy bundle of the snapshot.</summary>
    public PolicyBundle Policy => Snapshot.Policy;

    /// <summary>Gets the registered destinations of the snapshot.</summary>
    public DestinationRegistry Destinations => Snapshot.Destinations;

    /// <summary>Gets the resolver over the snapshot's entitlements.</summary>
    public CallerResolver Callers { get; }

    /// <summary>Resolves principals without running the gates: for principals an admitted caller asks about (the subject
    /// of an explanation), never for the caller itself.</summary>
    /// <exception cref="GuardException">The principal or its agent is unknown, or entitlements are unavailable.</exception>
    public Task<CallerPrincipals> ResolveAsync(CallerIdentity identity, CancellationToken cancellationToken) =>
        Callers.ResolveAsync(identity, cancellationToken);

    /// <summary>Resolves the caller and runs every gate for one request.</summary>
    /// <exception cref="GuardException">The caller is unknown, entitlements are unavailable, or a gate refused (that
    /// refusal is audited), or the refusal could not be audited.</exception>
    public Task<CallerPrincipals> AdmitAsync(CallerIdentity identity, AccessRequest request, CancellationToken cancellationToken) =>
        AdmitAsync(identity, request, precondition: null, cancellationToken);

    /// <summary>Resolves the caller, applies the operation's own <paramref name="precondition"/> (which refuses by
    /// throwing, before any gate counts the request), and runs every gate with the request carrying this snapshot.</summary>
    /// <exception cref="GuardException">The caller is unknown, entitlements are unavailable, the precondition or a gate
    /// refused (a gate's refusal is audited), or the refusal could not be audited.</exception>
    public async Task<CallerPrincipals> AdmitAsync(CallerIdentity identity, AccessRequest request, Action<CallerPrincipals>? precondition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(request);
        var caller = await Callers.ResolveAsync(identity, cancellationToken).ConfigureAwait(false);
        precondition?.Invoke(caller);
        await _guard.CheckGatesAsync(this, caller, request, cancellationToken).ConfigureAwait(false);
        return caller;
    }

    /// <summary>Starts a record of a kind for a caller, stamped with the tenant, this snapshot's policy version and hash,
    /// and the time; the operation adds what is specific to it.</summary>
    public AuditRecord NewRecord(string kind, CallerPrincipals caller, string decision)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return NewRecord(kind, caller.Subject.Id, caller.Actor?.Id, decision);
    }

    /// <summary>Starts a record of a kind for a subject (and actor), with its own record id prefix.</summary>
    public AuditRecord NewRecord(string kind, string subjectId, string? actorId, string decision, string idPrefix = GuardedOperations.ReceiptPrefix) => new()
    {
        RecordId = idPrefix + Guid.CreateVersion7().ToString("N"),
        Kind = kind,
        Tenant = _guard.Tenant,
        Time = _guard.Time.GetUtcNow(),
        SubjectId = subjectId,
        ActorId = actorId,
        PolicyVersion = Snapshot.Version,
        PolicyHash = Snapshot.Hash,
        Decision = decision,
    };

    /// <summary>Appends a record, stamped with the tenant and this snapshot's policy version, before anything is released.</summary>
    /// <exception cref="GuardException">The record could not be written (<see cref="GuardErrorKind.AuditUnavailable"/>).</exception>
    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken) =>
        AppendAsync(record, DefaultAuditFailure, cancellationToken);

    /// <summary>Appends a record as <see cref="AppendAsync(AuditRecord, CancellationToken)"/> does, refusing with
    /// <paramref name="failureMessage"/> when it cannot be written.</summary>
    /// <exception cref="GuardException">The record could not be written (<see cref="GuardErrorKind.AuditUnavailable"/>).</exception>
    public Task<AuditEntry> AppendAsync(AuditRecord record, string failureMessage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var tenant = _guard.Tenant;
        var stamped = record.Tenant == tenant && record.PolicyVersion == Snapshot.Version && record.PolicyHash == Snapshot.Hash
            ? record
            : record with { Tenant = tenant, PolicyVersion = Snapshot.Version, PolicyHash = Snapshot.Hash };
        return _guard.AppendStampedAsync(stamped, failureMessage, cancellationToken);
    }
}
