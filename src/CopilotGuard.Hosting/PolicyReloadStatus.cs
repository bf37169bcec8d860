namespace CopilotGuard.Hosting;

/// <summary>The outcome of live policy reloads, for the readiness check (<c>/healthz/ready</c>) and operators: the policy
/// version and hash in force, and the last attempt and its error, if it failed.</summary>
/// <remarks>A singleton in the server's services. Every property reads one immutable <see cref="PolicyReloadState"/>,
/// replaced atomically after each attempt; read <see cref="State"/> once to see several fields of the same attempt.
/// A failed reload leaves the previous policy in force: <see cref="LastError"/> says why, until a later reload succeeds.</remarks>
public sealed class PolicyReloadStatus
{
    private PolicyReloadState _state;

    /// <summary>Creates the status before the runtime started: no policy in force yet (empty version and hash, and
    /// <see cref="IsLoaded"/> <see langword="false"/>) until <see cref="PolicyReloader"/> starts and reports the policy
    /// loaded at start-up.</summary>
    public PolicyReloadStatus() =>
        _state = new PolicyReloadState(string.Empty, string.Empty, DateTimeOffset.MinValue, null, null, 0, null);

    /// <summary>Creates the status of the policy loaded at start-up.</summary>
    /// <param name="version">The policy version in force.</param>
    /// <param name="hash">The policy hash in force.</param>
    /// <param name="loadedAt">When it was loaded.</param>
    public PolicyReloadStatus(string version, string hash, DateTimeOffset loadedAt) =>
        _state = new PolicyReloadState(version, hash, loadedAt, null, null, 0, null);

    /// <summary>Gets the state after the last attempt.</summary>
    public PolicyReloadState State => Volatile.Read(ref _state);

    /// <summary>Gets the policy version in force.</summary>
    public string CurrentVersion => State.CurrentVersion;

    /// <summary>Gets the policy hash in force.</summary>
    public string CurrentHash => State.CurrentHash;

    /// <summary>Gets when the last reload was attempted, or <see langword="null"/> when none was since start-up.</summary>
    public DateTimeOffset? LastAttempt => State.LastAttempt;

    /// <summary>Gets why the last reload was refused (file, line and problem), or <see langword="null"/> when it succeeded
    /// or none was attempted.</summary>
    public string? LastError => State.LastError;

    /// <summary>Gets whether a policy is in force: <see langword="false"/> until the runtime started.</summary>
    public bool IsLoaded => State.CurrentVersion.Length > 0;

    /// <summary>Gets whether the files on disk are the policy in force: <see langword="false"/> after a refused reload.</summary>
    public bool IsCurrent => State.LastError is null;

    /// <summary>Gets how many reloads succeeded since start-up.</summary>
    public long Reloads => State.Reloads;

    /// <summary>Records the policy loaded at start-up (once the runtime opened).</summary>
    internal void Loaded(string version, string hash, DateTimeOffset at) =>
        Update(state => state with { CurrentVersion = version, CurrentHash = hash, LoadedAt = at });

    /// <summary>Records a reload that was applied.</summary>
    internal void Applied(string version, string hash, DateTimeOffset at, string receiptId) =>
        Update(state => state with { CurrentVersion = version, CurrentHash = hash, LoadedAt = at, LastAttempt = at, LastError = null, Reloads = state.Reloads + 1, LastReceiptId = receiptId });

    /// <summary>Records an attempt that changed nothing (the files load to the policy in force).</summary>
    internal void Unchanged(DateTimeOffset at) => Update(state => state with { LastAttempt = at, LastError = null });

    /// <summary>Records a refused reload; the policy in force stays.</summary>
    internal void Failed(string error, DateTimeOffset at) => Update(state => state with { LastAttempt = at, LastError = error });

    private void Update(Func<PolicyReloadState, PolicyReloadState> change)
    {
        var current = Volatile.Read(ref _state);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref _state, change(current), current);
            if (ReferenceEquals(seen, current))
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>One consistent view of <see cref="PolicyReloadStatus"/>.</summary>
/// <param name="CurrentVersion">The policy version in force.</param>
/// <param name="CurrentHash">The policy hash in force.</param>
/// <param name="LoadedAt">When the policy in force was loaded.</param>
/// <param name="LastAttempt">When the last reload was attempted, or <see langword="null"/> when none was.</param>
/// <param name="LastError">Why the last reload was refused, or <see langword="null"/>.</param>
/// <param name="Reloads">How many reloads succeeded since start-up.</param>
/// <param name="LastReceiptId">The audit record (<c>policy-reload</c>) of the last applied reload, or <see langword="null"/>.</param>
public sealed record PolicyReloadState(string CurrentVersion, string CurrentHash, DateTimeOffset LoadedAt, DateTimeOffset? LastAttempt, string? LastError, long Reloads, string? LastReceiptId);
