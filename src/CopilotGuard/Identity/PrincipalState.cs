using CopilotGuard.Audit;
using CopilotGuard.Policy;

namespace CopilotGuard.Identity;

/// <summary>Stores which principals are suspended (the kill switch), durably and shared by every broker instance.</summary>
/// <remarks>Implementations must read the shared store on every call and cache nothing, so that a suspension takes
/// effect on the very next request on every instance.</remarks>
public interface IPrincipalStateStore
{
    /// <summary>Creates the store's storage if needed.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Gets the suspension of a principal, or <see langword="null"/> when it is not suspended.</summary>
    ValueTask<PrincipalSuspension?> GetSuspensionAsync(string principalId, CancellationToken cancellationToken);

    /// <summary>Lists every current suspension.</summary>
    Task<IReadOnlyList<PrincipalSuspension>> ListSuspensionsAsync(CancellationToken cancellationToken);

    /// <summary>Suspends a principal, replacing any earlier suspension of it.</summary>
    Task SuspendAsync(PrincipalSuspension suspension, CancellationToken cancellationToken);

    /// <summary>Lifts a principal's suspension and returns whether it was suspended.</summary>
    Task<bool> ResumeAsync(string principalId, CancellationToken cancellationToken);
}

/// <summary>One principal's suspension.</summary>
/// <param name="PrincipalId">The suspended user, agent or service.</param>
/// <param name="Reason">Why it was suspended; shown to the suspended caller.</param>
/// <param name="SuspendedBy">Who suspended it: a principal id, or <c>system:anomaly</c>.</param>
/// <param name="Since">When the suspension started.</param>
public sealed record PrincipalSuspension(string PrincipalId, string Reason, string SuspendedBy, DateTimeOffset Since);

/// <summary>Refuses every request whose user or agent is suspended.</summary>
/// <remarks>Reads the store on every request (no cache), so a suspension applies to the next request everywhere.
/// When the store cannot be read the request is refused (fail closed).</remarks>
public sealed class SuspensionGate : IAccessGate
{
    private readonly IPrincipalStateStore _store;

    /// <summary>Creates the gate over a state store.</summary>
    public SuspensionGate(IPrincipalStateStore store) => _store = store ?? throw new ArgumentNullException(nameof(store));

    /// <inheritdoc />
    public async ValueTask CheckAsync(CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.Actor is not null)
        {
            await CheckAsync(caller.Actor, cancellationToken).ConfigureAwait(false);
        }

        await CheckAsync(caller.Subject, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask CheckAsync(Principal principal, CancellationToken cancellationToken)
    {
        PrincipalSuspension? suspension;
        try
        {
            suspension = await _store.GetSuspensionAsync(principal.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            throw new GuardException(GuardErrorKind.EntitlementsUnavailable, "The suspension state could not be read, so no data was released.", exception);
        }

        if (suspension is not null)
        {
            var kind = principal.Kind == PrincipalKind.Agent ? "Agent" : "Principal";
            throw new GuardException(GuardErrorKind.Forbidden, $"{kind} '{principal.Id}' is suspended since {suspension.Since:O}: {suspension.Reason}");
        }
    }
}

/// <summary>Suspends and resumes principals through the state store, auditing every change before it is made.</summary>
public sealed class KillSwitch
{
    /// <summary>The audit record kind of a suspension.</summary>
    public const string SuspendKind = "admin-suspend";

    /// <summary>The audit record kind of a resumption.</summary>
    public const string ResumeKind = "admin-resume";

    private readonly IPrincipalStateStore _store;
    private readonly IAuditLog _audit;
    private readonly PolicySnapshotHolder _policy;
    private readonly TimeProvider _time;

    /// <summary>Creates the kill switch, recording a fixed policy's version on its audit records.</summary>
    public KillSwitch(IPrincipalStateStore store, IAuditLog audit, PolicyBundle policy, TimeProvider? time = null)
        : this(store, audit, PolicySnapshotHolder.Fixed(policy ?? throw new ArgumentNullException(nameof(policy))), time)
    {
    }

    /// <summary>Creates the kill switch, recording the current policy snapshot's version on its audit records.</summary>
    public KillSwitch(IPrincipalStateStore store, IAuditLog audit, PolicySnapshotHolder policy, TimeProvider? time = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _audit = audit ?? throw new ArgumentNullException(nameof(audit));
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Gets the state store the switch writes to.</summary>
    public IPrincipalStateStore Store => _store;

    /// <summary>Checks that a principal id is acceptable as a target: not empty, at most 256 characters, no control characters.</summary>
    public static bool IsValidPrincipalId(string? principalId) =>
        !string.IsNullOrWhiteSpace(principalId) && principalId.Length <= 256 && !principalId.Any(char.IsControl);

    /// <summary>Suspends a principal after auditing the change, and returns the suspension and its audit receipt.</summary>
    /// <exception cref="GuardException">The audit record or the state could not be written.</exception>
    public async Task<(PrincipalSuspension Suspension, string ReceiptId)> SuspendAsync(string principalId, string? reason, string suspendedBy, CancellationToken cancellationToken)
    {
        var target = Validate(principalId);
        ArgumentException.ThrowIfNullOrEmpty(suspendedBy);
        var suspension = new PrincipalSuspension(target, string.IsNullOrWhiteSpace(reason) ? "suspended by a security administrator" : reason.Trim(), suspendedBy, _time.GetUtcNow());
        var receipt = await AuditAsync(SuspendKind, suspendedBy, target, "suspended", cancellationToken).ConfigureAwait(false);
        await WriteAsync(() => _store.SuspendAsync(suspension, cancellationToken)).ConfigureAwait(false);
        return (suspension, receipt);
    }

    /// <summary>Resumes a principal after auditing the change, and returns whether it was suspended and the audit receipt.</summary>
    /// <exception cref="GuardException">The audit record or the state could not be written.</exception>
    public async Task<(bool WasSuspended, string ReceiptId)> ResumeAsync(string principalId, string resumedBy, CancellationToken cancellationToken)
    {
        var target = Validate(principalId);
        ArgumentException.ThrowIfNullOrEmpty(resumedBy);
        var receipt = await AuditAsync(ResumeKind, resumedBy, target, "resumed", cancellationToken).ConfigureAwait(false);
        var was = false;
        await WriteAsync(async () => was = await _store.ResumeAsync(target, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        return (was, receipt);
    }

    private static string Validate(string principalId) =>
        IsValidPrincipalId(principalId)
            ? principalId
            : throw new GuardException(GuardErrorKind.InvalidRequest, "The principal id must be 1-256 characters without control characters.");

    private static async Task WriteAsync(Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException and not GuardException)
        {
            throw new GuardException(GuardErrorKind.EntitlementsUnavailable, "The principal state could not be written; the change was audited but is not in effect. Retry.", exception);
        }
    }

    private async Task<string> AuditAsync(string kind, string actorId, string target, string decision, CancellationToken cancellationToken)
    {
        var snapshot = _policy.Current;
        var record = new AuditRecord
        {
            RecordId = "rcpt_" + Guid.CreateVersion7().ToString("N"),
            Kind = kind,
            Time = _time.GetUtcNow(),
            SubjectId = actorId,
            PolicyVersion = snapshot.Version,
            PolicyHash = snapshot.Hash,
            Decision = decision,
            Target = "principal:" + target,
        };
        try
        {
            await _audit.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            throw new GuardException(GuardErrorKind.AuditUnavailable, "The audit record could not be written, so the principal state was not changed.", exception);
        }

        return record.RecordId;
    }
}
