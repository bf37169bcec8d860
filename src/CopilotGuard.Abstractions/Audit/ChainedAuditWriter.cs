using System.Threading.Channels;

namespace CopilotGuard.Audit;

/// <summary>The writer every database audit log shares: group commit, the hash chain, the Merkle state, signed
/// checkpoints and retention runs, over an <see cref="IAuditBackend"/> that holds only the database's SQL.</summary>
/// <remarks>
/// <para>Concurrent appends queue to one write loop, which commits every queued record in one transaction; each
/// caller's task completes only after its batch committed, and if anything of the batch fails every caller in it gets
/// the exception and nothing of the batch is in the log (fail closed).</para>
/// <para>Each transaction re-reads the head after the backend's writers' lock, so several processes may append to the
/// same log without forking the chain; the Merkle frontier is reused while no one else appended.</para>
/// </remarks>
internal sealed class ChainedAuditWriter : IAsyncDisposable
{
    private readonly IAuditBackend _backend;
    private readonly ChainedAuditWriterOptions _options;
    private readonly IAuditSigner? _signer;
    private readonly TimeProvider _time;
    private readonly string _logName;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly Lock _start = new();
    private Task? _loop;
    private WriterState? _state;
    private long _commits;
    private int _closed;

    /// <summary>Creates a writer; <see cref="Start"/> starts its loop.</summary>
    /// <param name="backend">The database's SQL.</param>
    /// <param name="options">Batching and checkpoint settings.</param>
    /// <param name="signer">Signs checkpoints; without one none are written.</param>
    /// <param name="time">The clock for checkpoint times and intervals.</param>
    /// <param name="logName">The log's name in <see cref="ObjectDisposedException"/>s.</param>
    public ChainedAuditWriter(IAuditBackend backend, ChainedAuditWriterOptions options, IAuditSigner? signer, TimeProvider time, string logName)
    {
        _backend = backend;
        _options = options;
        _signer = signer;
        _time = time;
        _logName = logName;
    }

    /// <summary>What a queued request asks the writer for.</summary>
    public enum RequestKind
    {
        /// <summary>Append the record.</summary>
        Append,

        /// <summary>Write a checkpoint (and index every entry).</summary>
        Checkpoint,

        /// <summary>Index every committed entry, for a reader of the indexes.</summary>
        Index,
    }

    /// <summary>Gets the number of transactions the writer has committed.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Gets whether <see cref="Start"/> was called.</summary>
    public bool Started => Volatile.Read(ref _loop) is not null;

    /// <summary>Gets when the unanchored tail should be checkpointed; <see langword="null"/> when every entry is anchored.</summary>
    public DateTimeOffset? CheckpointDue =>
        _signer is not null && _state is { } state && state.Head > state.CheckpointSize ? state.CheckpointTime + _options.CheckpointInterval : null;

    /// <summary>Starts the write loop (once).</summary>
    public void Start()
    {
        lock (_start)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);
            _loop ??= Task.Run(WriteLoopAsync, CancellationToken.None);
        }
    }

    /// <summary>Queues a record and completes once the batch holding it committed.</summary>
    /// <param name="record">The record.</param>
    /// <param name="index">Its index rows, when the caller computed them already.</param>
    /// <param name="cancellationToken">Stops the wait, not the write.</param>
    public async Task<AuditEntry> AppendAsync(AuditRecord record, AuditIndexRows? index, CancellationToken cancellationToken)
    {
        ThrowIfNotStarted();
        var pending = new Request(RequestKind.Append, record, AuditJson.Serialize(record), index);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(_logName, "The audit log is closed; the record was not written.");
        }

        return await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The writer completed an append without an entry.");
    }

    /// <summary>Has the writer checkpoint (or index) every committed entry, and returns the checkpoint its batch wrote.</summary>
    public async Task<AuditCheckpoint?> RequestAsync(RequestKind kind, CancellationToken cancellationToken)
    {
        ThrowIfNotStarted();
        var pending = TryRequest(kind) ?? throw new ObjectDisposedException(_logName);
        await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return pending.Checkpoint;
    }

    /// <summary>Queues a checkpoint or index request for background upkeep; waits for it without throwing, and does nothing once closed.</summary>
    public async Task RequestQuietlyAsync(RequestKind kind)
    {
        if (TryRequest(kind) is { } request)
        {
            await ((Task)request.Completion.Task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Expires (or lists) checkpointed entries past their retention, in one transaction of its own that also
    /// appends the retention record and signs a checkpoint over it.</summary>
    /// <remarks>Finds the expired entries in one read snapshot, then, under the writers' lock, re-checks that each is still
    /// a checkpointed live entry, keeps its leaf hash, replaces its payload with a tombstone, deletes its index rows,
    /// appends the retention record and signs a checkpoint over it. Any failure rolls all of it back.</remarks>
    public async Task<AuditRetentionReport> ApplyRetentionAsync(AuditRetentionPolicy policy, AuditRetentionRun run, CancellationToken cancellationToken)
    {
        if (_signer is null && !run.DryRun)
        {
            throw new InvalidOperationException("Retention needs the checkpoint signing key: an entry may expire only once a signed checkpoint covers it, and the retention record must be anchored by one.");
        }

        var now = _time.GetUtcNow();
        var schedule = policy.At(now);
        var candidates = new List<AuditExpiredEntry>();
        long held = 0;
        var covered = await _backend.ScanCheckpointedAsync(
            (sequence, recordId, payload) =>
            {
                var verdict = schedule.Classify(AuditJson.Deserialize(payload));
                held += verdict.Class == AuditRetentionPolicy.HeldClass ? 1 : 0;
                if (verdict.Expired && candidates.Count < run.MaxEntries)
                {
                    candidates.Add(new AuditExpiredEntry(sequence, recordId, verdict.Class));
                }
            },
            cancellationToken).ConfigureAwait(false);
        if (run.DryRun || candidates.Count == 0)
        {
            return new AuditRetentionReport(now, run.DryRun, AuditRetention.Summarize(policy, schedule, covered, candidates), held, null);
        }

        var template = AuditRetention.CreateRecord(now, run.RunBy, AuditRetention.Summarize(policy, schedule, covered, []));
        await using var transaction = await _backend.BeginRetentionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = await LoadStateAsync(transaction).ConfigureAwait(false);

            // Index every entry first, from the stored records, so no writer later indexes an entry this run expires.
            await transaction.IndexAsync(state.Head, complete: true).ConfigureAwait(false);

            // Another process may have expired some since the snapshot; those are not this run's.
            var live = await transaction.ReadLiveAsync(candidates.ConvertAll(static c => c.Sequence), covered, cancellationToken).ConfigureAwait(false);
            var expired = candidates.FindAll(c => live.TryGetValue(c.Sequence, out var row) && string.Equals(row.RecordId, c.RecordId, StringComparison.Ordinal));
            if (expired.Count == 0)
            {
                await transaction.RollbackAsync().ConfigureAwait(false);
                return new AuditRetentionReport(now, false, AuditRetention.Summarize(policy, schedule, covered, []), held, null);
            }

            var tombstones = expired.ConvertAll(e => new AuditTombstoneRow(
                e.Sequence,
                AuditJson.Serialize(AuditRetention.Tombstone(e.RecordId, template)),
                Convert.ToHexStringLower(AuditMerkle.LeafHash(live[e.Sequence].Payload))));
            await transaction.ExpireAsync(tombstones, template.SubjectId, cancellationToken).ConfigureAwait(false);

            var record = template with { Retention = AuditRetention.Summarize(policy, schedule, covered, expired) };
            var chain = new ChainCursor(state);
            var entry = await chain.AppendAsync(transaction, record, AuditJson.Serialize(record), null).ConfigureAwait(false);
            await transaction.IndexAsync(chain.Head, complete: true).ConfigureAwait(false);
            await transaction.AddCheckpointAsync(chain.Checkpoint(_signer!, now), chain.Frontier).ConfigureAwait(false);

            // Not cancellable once sent: the caller must not be told "cancelled" about a run that committed.
            await transaction.CommitAsync().ConfigureAwait(false);
            return new AuditRetentionReport(now, false, record.Retention!, held, entry);
        }
        catch (Exception)
        {
            await transaction.RollbackAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops taking requests, commits what is queued, anchors the tail (or finishes deferred work) and waits for the loop.</summary>
    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_start)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return;
            }

            _queue.Writer.TryComplete();
            loop = _loop;
        }

        if (loop is not null)
        {
            await loop.ConfigureAwait(false);
        }
    }

    private void ThrowIfNotStarted()
    {
        if (!Started)
        {
            throw new InvalidOperationException("The audit log is not initialized.");
        }
    }

    private Request? TryRequest(RequestKind kind)
    {
        var request = new Request(kind, null, [], null);
        return _queue.Writer.TryWrite(request) ? request : null;
    }

    private async Task WriteLoopAsync()
    {
        Task<bool>? waiting = null;
        var batch = new List<Request>(_options.MaxBatchSize);
        try
        {
            while (true)
            {
                waiting ??= _queue.Reader.WaitToReadAsync().AsTask();
                if (_options.AnchorWhenIdle && !waiting.IsCompleted && CheckpointDue is { } dueAt)
                {
                    var due = dueAt - _time.GetUtcNow();
                    if (due > TimeSpan.Zero)
                    {
                        using var delay = new CancellationTokenSource();
                        await Task.WhenAny(waiting, Task.Delay(due, _time, delay.Token)).ConfigureAwait(false);
                        await delay.CancelAsync().ConfigureAwait(false);
                    }

                    if (!waiting.IsCompleted)
                    {
                        batch.Add(new Request(RequestKind.Checkpoint, null, [], null));
                        await CommitAsync(batch).ConfigureAwait(false);
                        batch.Clear();
                        continue;
                    }
                }

                if (!await waiting.ConfigureAwait(false))
                {
                    break;
                }

                waiting = null;
                while (batch.Count < _options.MaxBatchSize && _queue.Reader.TryRead(out var pending))
                {
                    batch.Add(pending);
                }

                await CommitAsync(batch).ConfigureAwait(false);
                batch.Clear();
            }

            // Clean shutdown: finish deferred work, and anchor the tail so it does not stay protected by the chain alone.
            if ((_signer is not null && _state is { } last && last.Head > last.CheckpointSize) || _backend.HasDeferredWork)
            {
                batch.Add(new Request(_signer is null ? RequestKind.Index : RequestKind.Checkpoint, null, [], null));
                await CommitAsync(batch).ConfigureAwait(false);
            }
        }
        finally
        {
            await _backend.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Commits one batch in one transaction; completes every waiter with its entry, or fails every waiter with the error.</summary>
    private async Task CommitAsync(List<Request> batch)
    {
        var entries = new AuditEntry?[batch.Count];
        AuditCheckpoint? checkpoint = null;
        IAuditWriteTransaction? transaction = null;
        try
        {
            transaction = await _backend.BeginAsync(CancellationToken.None).ConfigureAwait(false);
            var state = await LoadStateAsync(transaction).ConfigureAwait(false);
            var chain = new ChainCursor(state);
            var recordIds = new HashSet<string>(StringComparer.Ordinal);
            var complete = false;
            var wantsCheckpoint = false;
            for (var i = 0; i < batch.Count; i++)
            {
                var pending = batch[i];
                complete |= pending.Kind != RequestKind.Append;
                wantsCheckpoint |= pending.Kind == RequestKind.Checkpoint;
                if (pending.Record is not { } record)
                {
                    continue;
                }

                if (!recordIds.Add(record.RecordId))
                {
                    throw new InvalidOperationException($"Record id {record.RecordId} appears twice in one batch.");
                }

                entries[i] = await chain.AppendAsync(transaction, record, pending.Payload, pending.Index).ConfigureAwait(false);
            }

            await transaction.IndexAsync(chain.Head, complete).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            var checkpointSize = state.CheckpointSize;
            var checkpointTime = state.CheckpointTime;
            wantsCheckpoint = wantsCheckpoint
                || chain.Head - state.CheckpointSize >= _options.CheckpointEvery
                || now - state.CheckpointTime >= _options.CheckpointInterval;
            if (_signer is not null && chain.Head > state.CheckpointSize && wantsCheckpoint)
            {
                checkpoint = chain.Checkpoint(_signer, now);
                await transaction.AddCheckpointAsync(checkpoint, chain.Frontier).ConfigureAwait(false);
                checkpointSize = chain.Head;
                checkpointTime = now;
            }

            await transaction.CommitAsync().ConfigureAwait(false);
            Interlocked.Increment(ref _commits);
            _state = new WriterState(chain.Head, chain.Hash, chain.Frontier, checkpointSize, checkpointTime);
        }
        catch (Exception exception)
        {
            // Nothing of this batch is durable (or, if only the acknowledgement of the commit was lost, its callers are
            // still told it failed and release nothing): fail every waiter, and drop the connection and cached state.
            _state = null;
            if (transaction is not null)
            {
                await transaction.RollbackAsync().ConfigureAwait(false);
                await transaction.DisposeAsync().ConfigureAwait(false);
                transaction = null;
            }

            await _backend.ResetAsync().ConfigureAwait(false);
            foreach (var pending in batch)
            {
                pending.Completion.TrySetException(exception);
            }

            return;
        }
        finally
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Checkpoint = checkpoint;
            batch[i].Completion.TrySetResult(entries[i]);
        }
    }

    /// <summary>Reads the head and the last checkpoint inside the write transaction, reusing the cached Merkle frontier
    /// when no other process has appended since.</summary>
    private async Task<WriterState> LoadStateAsync(IAuditWriteTransaction transaction)
    {
        var (head, headHash, checkpointSize, checkpointTime, saved) = transaction.Head;
        if (_state is { } cached && cached.Head == head && cached.HeadHash == headHash && cached.CheckpointSize == checkpointSize)
        {
            return cached;
        }

        // Another process appended, or this writer is starting: rebuild the frontier from the last checkpoint.
        var frontier = saved is null || checkpointSize > head ? new MerkleFrontier() : MerkleFrontier.Load(saved);
        await transaction.ReadLeavesAsync(frontier).ConfigureAwait(false);
        return new WriterState(head, headHash, frontier, checkpointSize, checkpointTime ?? _time.GetUtcNow());
    }

    /// <summary>The chain as a transaction extends it: sequence, chain hash and a copy of the Merkle frontier.</summary>
    private sealed class ChainCursor(WriterState state)
    {
        public long Head { get; private set; } = state.Head;

        public string Hash { get; private set; } = state.HeadHash;

        public MerkleFrontier Frontier { get; } = state.Frontier.Clone();

        public async Task<AuditEntry> AppendAsync(IAuditWriteTransaction transaction, AuditRecord record, byte[] payload, AuditIndexRows? index)
        {
            var leaf = AuditMerkle.LeafHash(payload);
            Head++;
            Hash = AuditChain.LinkLeaf(Hash, Head, leaf);
            Frontier.Append(leaf);
            await transaction.AddEntryAsync(new AuditChainedRow(Head, record, payload, Hash, index)).ConfigureAwait(false);
            return new AuditEntry(Head, Hash, record);
        }

        public AuditCheckpoint Checkpoint(IAuditSigner signer, DateTimeOffset now) =>
            AuditCheckpoint.Create(Head, now, Hash, Convert.ToHexStringLower(Frontier.Root()), signer);
    }

    private sealed class Request(RequestKind kind, AuditRecord? record, byte[] payload, AuditIndexRows? index)
    {
        public RequestKind Kind { get; } = kind;

        /// <summary>Gets the record, or <see langword="null"/> for a checkpoint or index request.</summary>
        public AuditRecord? Record { get; } = record;

        public byte[] Payload { get; } = payload;

        public AuditIndexRows? Index { get; } = index;

        public TaskCompletionSource<AuditEntry?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public AuditCheckpoint? Checkpoint { get; set; }
    }

    private sealed record WriterState(long Head, string HeadHash, MerkleFrontier Frontier, long CheckpointSize, DateTimeOffset CheckpointTime);
}

/// <summary>Settings of <see cref="ChainedAuditWriter"/>.</summary>
/// <param name="MaxBatchSize">The most records committed in one transaction.</param>
/// <param name="CheckpointEvery">How many entries may follow the last checkpoint before the next is written.</param>
/// <param name="CheckpointInterval">The longest time unanchored entries wait for a checkpoint.</param>
/// <param name="AnchorWhenIdle">Whether the write loop itself anchors an idle tail once the interval passed (otherwise the log's own upkeep asks for it).</param>
internal sealed record ChainedAuditWriterOptions(int MaxBatchSize, int CheckpointEvery, TimeSpan CheckpointInterval, bool AnchorWhenIdle);
