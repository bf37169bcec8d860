using System.Security.Cryptography;
using System.Threading.Channels;
using CopilotGuard.Audit;
using CopilotGuard.Policy;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Typing;

namespace CopilotGuard.Hosting;

/// <summary>Swaps the runtime's policy snapshot when the data folder's policy files change, without a restart: the
/// policy bundle (<c>policies/*.yaml</c>), <c>directory.yaml</c>, <c>labels.yaml</c> (rules and auto-elevation),
/// <c>agents.yaml</c>, <c>destinations.yaml</c> and <c>attributes.yaml</c>.</summary>
/// <remarks>
/// <para>A reload loads and validates every file exactly as start-up does (<see cref="PolicySnapshotLoader"/>: the
/// directory and the bundle checked against the schema, the labels, the destinations and the agents), checks the stored
/// attribute types against the new schema, audits the change (<see cref="AuditRecordKinds.PolicyReload"/>, the new
/// version and hash, the old ones in the target) and only then swaps the snapshot, atomically: a request that started
/// before the swap finishes on the old snapshot, every later one runs on the new one.</para>
/// <para>An invalid file, a label taxonomy that differs from the one the stores were opened with (the stores hold labels
/// by rank, so a new taxonomy needs a restart), or an audit failure refuses the reload: the old snapshot stays in force,
/// the error is logged, and <see cref="PolicyReloadStatus.LastError"/> reports it until a later reload succeeds.</para>
/// <para>Changes are found by a file watcher (debounced; <c>CopilotGuard:PolicyReload:Watch</c>, on by default) and can be
/// requested with <see cref="ReloadAsync"/> (e.g. <c>POST /v1/admin/policy/reload</c>). Reloads run one at a time; a
/// reload of files that did not change since the snapshot in force changes nothing.</para>
/// <para>The runtime is taken when the service starts (it exists only once the runtime host started, so this service is
/// registered after it); a reload before that is refused.</para>
/// </remarks>
public sealed partial class PolicyReloader : BackgroundService
{
    /// <summary>The subject of the audit records of reloads found by the file watcher.</summary>
    public const string WatcherSubject = "system:policy-watcher";

    private readonly Func<CopilotGuardRuntime> _openRuntime;
    private CopilotGuardRuntime? _runtime;
    private readonly PolicyReloadStatus _status;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly bool _watch;
    private readonly TimeSpan _debounce;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Channel<bool> _changes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private string _fingerprint = string.Empty;

    /// <summary>Creates the reloader of a runtime that is already open.</summary>
    /// <param name="runtime">The runtime whose <see cref="CopilotGuardRuntime.PolicyHolder"/> is swapped.</param>
    /// <param name="status">Receives the outcome of every attempt.</param>
    /// <param name="logger">Logs applied and refused reloads.</param>
    /// <param name="watch">Whether to watch the data folder for changes.</param>
    /// <param name="debounce">How long the files must stay unchanged before a watched change is loaded.</param>
    /// <param name="time">The clock.</param>
    public PolicyReloader(CopilotGuardRuntime runtime, PolicyReloadStatus status, ILogger<PolicyReloader> logger, bool watch = true, TimeSpan? debounce = null, TimeProvider? time = null)
        : this(Opened(runtime ?? throw new ArgumentNullException(nameof(runtime))), status, logger, watch, debounce, time)
    {
    }

    /// <summary>Creates the reloader of the runtime <paramref name="runtime"/> returns when the service starts.</summary>
    /// <param name="runtime">Returns the runtime whose <see cref="CopilotGuardRuntime.PolicyHolder"/> is swapped; called once, in <see cref="StartAsync"/>.</param>
    /// <param name="status">Receives the outcome of every attempt.</param>
    /// <param name="logger">Logs applied and refused reloads.</param>
    /// <param name="watch">Whether to watch the data folder for changes.</param>
    /// <param name="debounce">How long the files must stay unchanged before a watched change is loaded.</param>
    /// <param name="time">The clock.</param>
    public PolicyReloader(Func<CopilotGuardRuntime> runtime, PolicyReloadStatus status, ILogger<PolicyReloader> logger, bool watch = true, TimeSpan? debounce = null, TimeProvider? time = null)
    {
        _openRuntime = runtime ?? throw new ArgumentNullException(nameof(runtime));
        _status = status ?? throw new ArgumentNullException(nameof(status));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _watch = watch;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(500);
        _time = time ?? TimeProvider.System;
    }

    private static Func<CopilotGuardRuntime> Opened(CopilotGuardRuntime runtime) => () => runtime;

    private CopilotGuardRuntime Runtime => _runtime ?? throw new InvalidOperationException("The policy reloader has not started: the runtime is not open yet.");

    /// <summary>Gets the status the reloader reports to.</summary>
    public PolicyReloadStatus Status => _status;

    /// <summary>Loads and validates the policy files and, when they are valid and changed, swaps them in.</summary>
    /// <param name="requestedBy">Who asked: an administrator's principal id, or <see cref="WatcherSubject"/>.</param>
    /// <param name="cancellationToken">Cancels waiting for a reload in progress and loading.</param>
    /// <returns>What happened; a refused reload is reported, not thrown.</returns>
    public async Task<PolicyReloadResult> ReloadAsync(string requestedBy, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestedBy);
        _ = Runtime;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ReloadCoreAsync(requestedBy, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Takes the runtime (open by now: the runtime host started first), fingerprints its policy files and
    /// reports the policy loaded at start-up, then starts watching.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var runtime = _openRuntime();
        var snapshot = runtime.PolicyHolder.Current;
        try
        {
            _fingerprint = Fingerprint(runtime.Data);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Unreadable now: the first reload loads the files whatever they hold.
            _fingerprint = string.Empty;
        }

        _runtime = runtime;
        _status.Loaded(snapshot.Version, snapshot.Hash, _time.GetUtcNow());
        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_watch)
        {
            return;
        }

        using var root = Watch(Runtime.Data.Root);
        try
        {
            while (await _changes.Reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                // Wait until the files stay unchanged for the debounce interval (an editor writes a file in several steps).
                do
                {
                    _changes.Reader.TryRead(out _);
                    await Task.Delay(_debounce, _time, stoppingToken).ConfigureAwait(false);
                }
                while (_changes.Reader.TryPeek(out _));

                await ReloadAsync(WatcherSubject, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _gate.Dispose();
        base.Dispose();
    }

    private async Task<PolicyReloadResult> ReloadCoreAsync(string requestedBy, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var previous = Runtime.PolicyHolder.Current;
        string fingerprint;
        PolicySnapshot next;
        try
        {
            fingerprint = Fingerprint(Runtime.Data);
            if (string.Equals(fingerprint, _fingerprint, StringComparison.Ordinal))
            {
                _status.Unchanged(now);
                return new PolicyReloadResult(PolicyReloadOutcome.Unchanged, previous.Version, previous.Hash, null, null);
            }

            next = await PolicySnapshotLoader.LoadAsync(Runtime.Data, seed: false, Runtime.VerificationSettings, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            if (!next.Labels.Labels.SequenceEqual(Runtime.StoreLabels.Labels))
            {
                throw new PolicyReloadException(
                    $"labels.yaml: the label taxonomy changed ({string.Join(", ", Runtime.StoreLabels.Labels.Select(static l => l.Name))} -> {string.Join(", ", next.Labels.Labels.Select(static l => l.Name))}); "
                    + "the chunk stores were opened with the old taxonomy, so a new taxonomy takes effect only after a restart. The previous policy stays in force.");
            }

            if (Runtime.CheckStoredAttributeTypes)
            {
                await StoredAttributeTypes.EnsureMatchAsync(Runtime.Store, next.Schema, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // Invalid files (PolicyValidationException names file, line and problem), a taxonomy change, stored types
            // the new schema contradicts, or a store that cannot be asked: the policy in force stays (fail closed).
            return Refuse(previous, exception.Message, exception, now);
        }

        var record = ReloadRecord(previous, next, requestedBy, now);
        try
        {
            // Audited before it takes effect, so no policy is ever in force unaudited.
            await Runtime.AuditLog.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return Refuse(previous, "The policy reload could not be audited, so it was not applied: " + exception.Message, exception, now);
        }

        Runtime.PolicyHolder.Swap(next);
        _fingerprint = fingerprint;
        _status.Applied(next.Version, next.Hash, now, record.RecordId);
        LogApplied(_logger, previous.Version, previous.Hash, next.Version, next.Hash, requestedBy);
        return new PolicyReloadResult(PolicyReloadOutcome.Applied, next.Version, next.Hash, null, record.RecordId);
    }

    private PolicyReloadResult Refuse(PolicySnapshot current, string error, Exception exception, DateTimeOffset now)
    {
        _status.Failed(error, now);
        LogRefused(_logger, exception, Runtime.Data.Root, current.Version, error);
        return new PolicyReloadResult(PolicyReloadOutcome.Refused, current.Version, current.Hash, error, null);
    }

    private AuditRecord ReloadRecord(PolicySnapshot previous, PolicySnapshot next, string requestedBy, DateTimeOffset now) => new()
    {
        RecordId = "rcpt_" + Guid.CreateVersion7().ToString("N"),
        Kind = AuditRecordKinds.PolicyReload,
        Tenant = Runtime.Broker.Tenant,
        Time = now,
        SubjectId = requestedBy,
        PolicyVersion = next.Version,
        PolicyHash = next.Hash,
        Decision = "applied",
        Target = $"previous-version:{previous.Version} previous-hash:{previous.Hash}",
    };

    private FileSystemWatcher Watch(string root)
    {
        var watcher = new FileSystemWatcher(root)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        watcher.Filters.Add("*.yaml");
        watcher.Filters.Add("*.yml");
        watcher.Changed += OnChanged;
        watcher.Created += OnChanged;
        watcher.Deleted += OnChanged;
        watcher.Renamed += OnChanged;
        watcher.Error += (_, args) =>
        {
            // Events were lost (buffer overflow): look at the files anyway.
            LogWatcherError(_logger, args.GetException());
            _changes.Writer.TryWrite(true);
        };
        watcher.EnableRaisingEvents = true;
        return watcher;
    }

    private void OnChanged(object sender, FileSystemEventArgs args)
    {
        if (IsPolicyFile(Runtime.Data, args.FullPath) || (args is RenamedEventArgs renamed && IsPolicyFile(Runtime.Data, renamed.OldFullPath)))
        {
            _changes.Writer.TryWrite(true);
        }
    }

    /// <summary>The files a snapshot is loaded from: the policy folder's YAML files and the policy-like files of the root.</summary>
    private static IEnumerable<string> PolicyFiles(DataFolder data)
    {
        string[] files = [data.LabelsPath, data.AttributesPath, data.DirectoryPath, data.DestinationsPath, Path.Combine(data.Root, ContinuousVerification.AgentsFileName)];
        var policies = Directory.Exists(data.PoliciesPath)
            ? Directory.EnumerateFiles(data.PoliciesPath).Where(static p => p.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || p.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            : [];
        return files.Concat(policies.Order(StringComparer.Ordinal));
    }

    private static bool IsPolicyFile(DataFolder data, string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full);
        return string.Equals(directory, Path.GetFullPath(data.PoliciesPath), StringComparison.Ordinal)
            || PolicyFiles(data).Take(5).Any(file => string.Equals(Path.GetFullPath(file), full, StringComparison.Ordinal));
    }

    /// <summary>A hash of the names and contents of the policy files, to skip reloads of files that did not change.</summary>
    private static string Fingerprint(DataFolder data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in PolicyFiles(data))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(path + "\n"));
            try
            {
                hash.AppendData(File.Exists(path) ? File.ReadAllBytes(path) : "(none)"u8);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // Being written: a fingerprint that matches nothing, so the load decides.
                hash.AppendData(Guid.NewGuid().ToByteArray());
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Policy reloaded: version {OldVersion} ({OldHash}) -> {NewVersion} ({NewHash}), requested by {RequestedBy}.")]
    private static partial void LogApplied(ILogger logger, string oldVersion, string oldHash, string newVersion, string newHash, string requestedBy);

    [LoggerMessage(Level = LogLevel.Error, Message = "Policy reload of {DataFolder} refused; version {Version} stays in force: {Problem}")]
    private static partial void LogRefused(ILogger logger, Exception exception, string dataFolder, string version, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The policy file watcher lost events; the files are reloaded to catch up.")]
    private static partial void LogWatcherError(ILogger logger, Exception exception);
}

/// <summary>What a reload did.</summary>
public enum PolicyReloadOutcome
{
    /// <summary>The new files were valid and are in force.</summary>
    Applied,

    /// <summary>The files did not change since the snapshot in force; nothing was done.</summary>
    Unchanged,

    /// <summary>The files were invalid (or could not be taken live); the previous policy stays in force.</summary>
    Refused,
}

/// <summary>The outcome of a reload.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Version">The policy version in force afterwards.</param>
/// <param name="Hash">The policy hash in force afterwards.</param>
/// <param name="Error">Why the reload was refused, or <see langword="null"/>.</param>
/// <param name="RecordId">The audit record of an applied reload, or <see langword="null"/>.</param>
public sealed record PolicyReloadResult(PolicyReloadOutcome Outcome, string Version, string Hash, string? Error, string? RecordId);

/// <summary>A reload that loaded valid files that cannot be taken live (a changed label taxonomy).</summary>
public sealed class PolicyReloadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PolicyReloadException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public PolicyReloadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public PolicyReloadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
