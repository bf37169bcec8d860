using CopilotGuard.Audit;
using CopilotGuard.Identity;
using CopilotGuard.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CopilotGuard.Operations;

/// <summary>The one path every guarded operation (retrieve, explain, de-anonymize, relabel, audit queries and the
/// console reads behind them) takes: resolve the caller, run the gates, stamp the tenant and the policy version on
/// every record, audit refusals, and append fail-closed, so that nothing is released when the record cannot be written.</summary>
/// <remarks>In order: <see cref="AdmitAsync(CallerIdentity, AccessRequest, Action{CallerPrincipals}?, CancellationToken)"/>
/// resolves the caller (failing closed on unknown principals or unreachable entitlements), applies the operation's own
/// precondition, and runs every gate; a gate's refusal is appended as one <c>refused</c> record before it reaches the
/// caller. The operation then builds its record with <see cref="NewRecord(string, CallerPrincipals, string)"/> and
/// appends it with <see cref="AppendAsync(AuditRecord, CancellationToken)"/> before releasing anything.</remarks>
public sealed partial class GuardedOperations
{
    /// <summary>The record id prefix of retrieval receipts and the records of most operations.</summary>
    public const string ReceiptPrefix = "rcpt_";

    private const string DefaultAuditFailure = "The audit record could not be written, so no data was released.";

    private readonly IAuditLog _audit;
    private readonly IAccessGate[] _gates;
    private readonly ILogger _logger;

    /// <summary>Creates the pipeline from its parts.</summary>
    /// <param name="callers">Resolves callers into principals.</param>
    /// <param name="policy">The policy whose version every record names.</param>
    /// <param name="audit">The log every record is appended to.</param>
    /// <param name="tenant">The tenant every record names.</param>
    /// <param name="gates">The checks every caller passes first (kill switch, rate limits, anomaly responses); none when <see langword="null"/>.</param>
    /// <param name="time">The clock for record times.</param>
    /// <param name="logger">Where failed appends are logged.</param>
    public GuardedOperations(CallerResolver callers, PolicyBundle policy, IAuditLog audit, string tenant, IEnumerable<IAccessGate>? gates = null, TimeProvider? time = null, ILogger? logger = null)
    {
        Callers = callers ?? throw new ArgumentNullException(nameof(callers));
        Policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _audit = audit ?? throw new ArgumentNullException(nameof(audit));
        Tenant = tenant ?? throw new ArgumentNullException(nameof(tenant));
        _gates = gates?.ToArray() ?? [];
        Time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the resolver every operation resolves callers with.</summary>
    public CallerResolver Callers { get; }

    /// <summary>Gets the policy every record names.</summary>
    public PolicyBundle Policy { get; }

    /// <summary>Gets the tenant every record names.</summary>
    public string Tenant { get; }

    /// <summary>Gets the checks every caller passes first.</summary>
    public IReadOnlyList<IAccessGate> Gates => _gates;

    /// <summary>Gets the clock record times come from.</summary>
    public TimeProvider Time { get; }

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
    /// throwing, before any gate counts the request), and runs every gate.</summary>
    /// <exception cref="GuardException">The caller is unknown, entitlements are unavailable, the precondition or a gate
    /// refused (a gate's refusal is audited), or the refusal could not be audited.</exception>
    public async Task<CallerPrincipals> AdmitAsync(CallerIdentity identity, AccessRequest request, Action<CallerPrincipals>? precondition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(request);
        var caller = await Callers.ResolveAsync(identity, cancellationToken).ConfigureAwait(false);
        precondition?.Invoke(caller);
        foreach (var gate in _gates)
        {
            try
            {
                await gate.CheckAsync(caller, request, cancellationToken).ConfigureAwait(false);
            }
            catch (GuardException refusal) when (refusal.Kind is GuardErrorKind.Forbidden or GuardErrorKind.RateLimited)
            {
                await AppendAsync(NewRecord("refused", caller, refusal.Kind == GuardErrorKind.RateLimited ? "rate-limited" : "forbidden") with
                {
                    Purpose = request.Purpose,
                    Destination = request.Destination,
                    Target = $"operation:{request.Operation} gate:{gate.GetType().Name}",
                }, cancellationToken).ConfigureAwait(false);
                throw;
            }
        }

        return caller;
    }

    /// <summary>Starts a record of a kind for a caller, stamped with the tenant, the policy version and the time;
    /// the operation adds what is specific to it.</summary>
    public AuditRecord NewRecord(string kind, CallerPrincipals caller, string decision)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return NewRecord(kind, caller.Subject.Id, caller.Actor?.Id, decision);
    }

    /// <summary>Starts a record of a kind for a subject (and actor), with its own record id prefix.</summary>
    public AuditRecord NewRecord(string kind, string subjectId, string? actorId, string decision, string idPrefix = ReceiptPrefix) => new()
    {
        RecordId = idPrefix + Guid.CreateVersion7().ToString("N"),
        Kind = kind,
        Tenant = Tenant,
        Time = Time.GetUtcNow(),
        SubjectId = subjectId,
        ActorId = actorId,
        PolicyVersion = Policy.Version,
        PolicyHash = Policy.Sha256,
        Decision = decision,
    };

    /// <summary>Appends a record, stamped with the tenant and the policy version, before anything is released.</summary>
    /// <exception cref="GuardException">The record could not be written (<see cref="GuardErrorKind.AuditUnavailable"/>).</exception>
    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken) =>
        AppendAsync(record, DefaultAuditFailure, cancellationToken);

    /// <summary>Appends a record as <see cref="AppendAsync(AuditRecord, CancellationToken)"/> does, refusing with
    /// <paramref name="failureMessage"/> when it cannot be written.</summary>
    /// <exception cref="GuardException">The record could not be written (<see cref="GuardErrorKind.AuditUnavailable"/>).</exception>
    public async Task<AuditEntry> AppendAsync(AuditRecord record, string failureMessage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var stamped = record.Tenant == Tenant && record.PolicyVersion == Policy.Version && record.PolicyHash == Policy.Sha256
            ? record
            : record with { Tenant = Tenant, PolicyVersion = Policy.Version, PolicyHash = Policy.Sha256 };
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
