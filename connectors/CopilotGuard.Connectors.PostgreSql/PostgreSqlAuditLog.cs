using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using CopilotGuard.Audit;
using Npgsql;
using NpgsqlTypes;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>An append-only, hash-chained audit log in PostgreSQL with group commit and signed checkpoints; the same
/// chain, Merkle tree, checkpoints and verification as the embedded SQLite log.</summary>
/// <remarks>
/// <para>Concurrent appends queue to one writer, which commits every queued record in one transaction (multi-row
/// inserts, one round trip for the whole batch); each caller's task completes only after the commit is acknowledged,
/// and if the commit fails every caller in the batch gets the exception and no record of the batch is in the log
/// (fail closed). Durability is the server's: keep <c>fsync</c> and <c>synchronous_commit</c> on.</para>
/// <para>The writer locks <c>audit_log</c> against other writers (<c>SHARE ROW EXCLUSIVE</c>, which never blocks
/// readers) inside each write transaction and re-reads the head after the lock, so several processes may append to
/// the same database without forking the chain.</para>
/// <para>With a signer, the writer adds a signed checkpoint (tree size, chain head, RFC 9162 Merkle root) in the same
/// transaction every <see cref="PostgreSqlAuditLogOptions.CheckpointEvery"/> entries, after
/// <see cref="PostgreSqlAuditLogOptions.CheckpointInterval"/> with unanchored entries, and on dispose.</para>
/// <para>PostgreSQL <c>text</c> cannot hold U+0000: a record with U+0000 in an indexed id (record, subject, document,
/// chunk, data subject, receipt) is refused with an <see cref="ArgumentException"/> before it is queued, so it never
/// fails anyone else's batch. The record bytes themselves are <c>bytea</c>.</para>
/// <para>Retention (<see cref="ApplyRetentionAsync"/>) turns checkpointed entries into tombstones that keep their leaf
/// hash (column <c>leaf_hash</c>, added in place to logs created before it), and appends the retention record and a
/// checkpoint over it in the same transaction, under the writer lock the appends take.</para>
/// </remarks>
public sealed class PostgreSqlAuditLog : IAuditStore, IAuditRetention
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgreSqlAuditLogOptions _options;
    private readonly IAuditSigner? _signer;
    private readonly TimeProvider _time;
    private readonly string _log;
    private readonly string _documents;
    private readonly string _subjects;
    private readonly string _answers;
    private readonly string _checkpoints;
    private readonly Channel<PendingAppend> _queue = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly Lock _initialization = new();
    private Task? _writer;
    private WriterState? _state;
    private long _commits;
    private int _disposed;

    /// <summary>Creates a log over a PostgreSQL data source.</summary>
    /// <param name="dataSource">The database; the writer holds one of its connections while the log is open.</param>
    /// <param name="options">Schema, batching and checkpoint settings; the defaults when <see langword="null"/>.</param>
    /// <param name="signer">Signs checkpoints and verifies them; without one no checkpoints are written and a log that has some fails verification.</param>
    /// <param name="time">The clock for checkpoint times and intervals.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public PostgreSqlAuditLog(NpgsqlDataSource dataSource, PostgreSqlAuditLogOptions? options = null, IAuditSigner? signer = null, TimeProvider? time = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _options = options ?? new PostgreSqlAuditLogOptions();
        _options.Validate();
        _signer = signer;
        _time = time ?? TimeProvider.System;
        _log = $"{_options.Schema}.audit_log";
        _documents = $"{_options.Schema}.audit_documents";
        _subjects = $"{_options.Schema}.audit_subjects";
        _answers = $"{_options.Schema}.audit_answers";
        _checkpoints = $"{_options.Schema}.audit_checkpoints";
    }

    /// <summary>Gets the number of transactions the writer has committed (for tests and metrics).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        await PostgreSqlSchemaLock.TakeAsync(connection, transaction, _options.Schema, cancellationToken).ConfigureAwait(false);

        await using (var command = new NpgsqlCommand($"""
            CREATE SCHEMA IF NOT EXISTS {_options.Schema};
            CREATE TABLE IF NOT EXISTS {_log} (
                seq bigint PRIMARY KEY CHECK (seq > 0),
                record_id text COLLATE "C" NOT NULL UNIQUE,
                time timestamptz NOT NULL,
                subject_id text COLLATE "C" NOT NULL,
                payload bytea NOT NULL,
                hash text NOT NULL,
                leaf_hash text);
            CREATE TABLE IF NOT EXISTS {_documents} (seq bigint NOT NULL, document_id text COLLATE "C" NOT NULL, chunk_id text COLLATE "C" NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_audit_documents ON {_documents} (document_id, seq);
            CREATE TABLE IF NOT EXISTS {_subjects} (seq bigint NOT NULL, subject_id text COLLATE "C" NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_audit_subjects ON {_subjects} (subject_id, seq);
            CREATE TABLE IF NOT EXISTS {_answers} (seq bigint NOT NULL, receipt_id text COLLATE "C" NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_audit_answers ON {_answers} (receipt_id, seq);
            CREATE TABLE IF NOT EXISTS {_checkpoints} (
                tree_size bigint PRIMARY KEY,
                time text NOT NULL,
                chain_head text NOT NULL,
                merkle_root text NOT NULL,
                key_id text NOT NULL,
                signature text NOT NULL,
                frontier bytea NOT NULL);
            """, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await MigrateAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        lock (_initialization)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            _writer ??= Task.Run(WriteLoopAsync, CancellationToken.None);
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">An indexed id of the record holds U+0000, which PostgreSQL text cannot store.</exception>
    public async Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_writer is null)
        {
            throw new InvalidOperationException("The audit log is not initialized.");
        }

        var rows = AuditIndexRows.Of(record);
        if (rows.FieldsWithNul(record) is { Count: > 0 } bad)
        {
            throw new ArgumentException($"Audit record '{record.RecordId.Replace("\0", "\\u0000", StringComparison.Ordinal)}' cannot be stored in PostgreSQL: {string.Join(", ", bad)} hold U+0000, which PostgreSQL text cannot store.", nameof(record));
        }

        var pending = new PendingAppend(record, AuditJson.Serialize(record), rows);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(PostgreSqlAuditLog), "The audit log is closed; the record was not written.");
        }

        return await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The writer completed an append without an entry.");
    }

    /// <inheritdoc />
    public async Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recordId);
        if (recordId.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        await using var command = _dataSource.CreateCommand($"SELECT seq, hash, payload FROM {_log} WHERE record_id = @id");
        command.Parameters.Add(new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = recordId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadEntry(reader) : null;
    }

    /// <inheritdoc />
    public Task<AuditPage> GetDocumentAccessesAsync(string documentId, AuditPageRequest page, CancellationToken cancellationToken) =>
        PageAsync($"SELECT seq FROM {_documents} WHERE document_id = @key AND seq > @after", documentId, page, cancellationToken);

    /// <inheritdoc />
    public Task<AuditPage> GetSubjectAccessesAsync(string subjectId, AuditPageRequest page, CancellationToken cancellationToken) =>
        PageAsync($"SELECT seq FROM {_subjects} WHERE subject_id = @key AND seq > @after", subjectId, page, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditEntry>> GetAnswersForReceiptAsync(string receiptId, CancellationToken cancellationToken)
    {
        var page = await PageAsync($"SELECT seq FROM {_answers} WHERE receipt_id = @key AND seq > @after", receiptId, new AuditPageRequest(AuditPageRequest.MaxLimit), cancellationToken).ConfigureAwait(false);
        return page.Entries;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredAuditEntry> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"SELECT seq, record_id, payload, hash, leaf_hash FROM {_log} WHERE seq > @after ORDER BY seq");
        command.Parameters.Add(new NpgsqlParameter<long>("after", NpgsqlDbType.Bigint) { TypedValue = afterSequence });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return ReadStored(reader);
        }
    }

    /// <inheritdoc />
    /// <remarks>Finds the expired entries in one read snapshot, then, in one write transaction under the lock the appends
    /// take (<c>LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE</c>: appends of this and every other process wait for
    /// it, then re-read the head), re-checks that each is still a checkpointed live entry, keeps its leaf hash, replaces
    /// its payload with a tombstone, deletes its index rows, appends the retention record and signs a checkpoint over it.
    /// Any failure rolls all of it back. The row keeps its <c>time</c>; its <c>subject_id</c> becomes the runner.</remarks>
    /// <exception cref="ArgumentException">The runner holds U+0000, which PostgreSQL text cannot store.</exception>
    public async Task<AuditRetentionReport> ApplyRetentionAsync(AuditRetentionPolicy policy, AuditRetentionRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrEmpty(run.RunBy);
        ArgumentOutOfRangeException.ThrowIfLessThan(run.MaxEntries, 1);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (run.RunBy.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The retention runner cannot be stored in PostgreSQL: it holds U+0000, which PostgreSQL text cannot store.", nameof(run));
        }

        if (_writer is null)
        {
            throw new InvalidOperationException("The audit log is not initialized.");
        }

        if (_signer is null && !run.DryRun)
        {
            throw new InvalidOperationException("Retention needs the checkpoint signing key: an entry may expire only once a signed checkpoint covers it, and the retention record must be anchored by one.");
        }

        var now = _time.GetUtcNow();
        var schedule = policy.At(now);
        var (covered, candidates, held) = await FindExpiredAsync(schedule, run.MaxEntries, cancellationToken).ConfigureAwait(false);
        if (run.DryRun || candidates.Count == 0)
        {
            return new AuditRetentionReport(now, run.DryRun, AuditRetention.Summarize(policy, schedule, covered, candidates), held, null);
        }

        var template = AuditRetention.CreateRecord(now, run.RunBy, AuditRetention.Summarize(policy, schedule, covered, []));
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = await BeginAsync(connection).ConfigureAwait(false);
            var live = await ReadLiveAsync(connection, candidates, covered, cancellationToken).ConfigureAwait(false);

            // Another process may have expired some since the snapshot; those are not this run's.
            var expired = candidates.FindAll(c => live.TryGetValue(c.Sequence, out var row) && string.Equals(row.RecordId, c.RecordId, StringComparison.Ordinal));
            if (expired.Count == 0)
            {
                await RollBackAsync(connection).ConfigureAwait(false);
                return new AuditRetentionReport(now, false, AuditRetention.Summarize(policy, schedule, covered, []), held, null);
            }

            var sequences = expired.ConvertAll(static e => e.Sequence).ToArray();
            await using var write = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand($"UPDATE {_log} l SET payload = u.payload, leaf_hash = u.leaf, subject_id = @subject FROM unnest(@seq, @payload, @leaf) AS u(seq, payload, leaf) WHERE l.seq = u.seq")
                    {
                        Parameters =
                        {
                            new NpgsqlParameter<string>("subject", NpgsqlDbType.Text) { TypedValue = template.SubjectId },
                            new NpgsqlParameter<long[]>("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = sequences },
                            new NpgsqlParameter<byte[][]>("payload", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { TypedValue = [.. expired.Select(e => AuditJson.Serialize(AuditRetention.Tombstone(e.RecordId, template)))] },
                            new NpgsqlParameter<string[]>("leaf", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. expired.Select(e => Convert.ToHexStringLower(AuditMerkle.LeafHash(live[e.Sequence].Payload)))] },
                        },
                    },
                    DeleteIndexRows(_documents, sequences),
                    DeleteIndexRows(_subjects, sequences),
                    DeleteIndexRows(_answers, sequences),
                },
            };

            var record = template with { Retention = AuditRetention.Summarize(policy, schedule, covered, expired) };
            var payload = AuditJson.Serialize(record);
            var head = state.Head + 1;
            var hash = AuditChain.Link(state.HeadHash, head, payload);
            var frontier = state.Frontier.Clone();
            frontier.Append(AuditMerkle.LeafHash(payload));
            var rows = new BatchRows(1);
            rows.Add(head, record, payload, hash, AuditIndexRows.Of(record));
            rows.AddCommands(write, this);
            write.BatchCommands.Add(CheckpointCommand(AuditCheckpoint.Create(head, now, hash, Convert.ToHexStringLower(frontier.Root()), _signer!), frontier));
            write.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));

            // Not cancellable once sent: the caller must not be told "cancelled" about a run that committed.
            await write.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            return new AuditRetentionReport(now, false, record.Retention, held, new AuditEntry(head, hash, record));
        }
        catch (Exception)
        {
            await RollBackAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditCheckpoint>> GetCheckpointsAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"SELECT tree_size, time, chain_head, merkle_root, key_id, signature FROM {_checkpoints} ORDER BY tree_size");
        var checkpoints = new List<AuditCheckpoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            checkpoints.Add(new AuditCheckpoint(
                reader.GetInt64(0),
                ParseTime(reader.GetString(1)),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5)));
        }

        return checkpoints;
    }

    /// <inheritdoc />
    /// <remarks>One pass in one snapshot: checks the chain, every checkpoint signature and Merkle root, and that the
    /// document, subject and answer index rows of every entry match its hashed record (an index row removed to hide an
    /// access is reported).</remarks>
    public async Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        // Checkpoints first: every checkpoint read is then covered by the entries read after it.
        var checkpoints = await GetCheckpointsAsync(cancellationToken).ConfigureAwait(false);
        var index = new IndexCheck();
        var verification = await AuditVerifier.VerifyAsync(ReadCheckingIndexesAsync(index, cancellationToken), checkpoints, _signer, cancellationToken).ConfigureAwait(false);
        return !verification.Ok || index.FirstBad is not { } bad
            ? verification
            : verification with { Ok = false, FirstBadSequence = bad, Problem = $"entry {bad}: the document, subject or answer index does not match the hashed record (index rows removed, added or edited)" };
    }

    /// <inheritdoc />
    public async Task<AuditCheckpoint?> CheckpointAsync(CancellationToken cancellationToken)
    {
        if (_signer is null)
        {
            return null;
        }

        if (_writer is null)
        {
            throw new InvalidOperationException("The audit log is not initialized.");
        }

        var pending = new PendingAppend(null, [], default);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(PostgreSqlAuditLog));
        }

        await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return pending.Checkpoint;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        Task? writer;
        lock (_initialization)
        {
            writer = _writer;
        }

        if (writer is not null)
        {
            await writer.ConfigureAwait(false);
        }
    }

    private async Task WriteLoopAsync()
    {
        NpgsqlConnection? connection = null;
        Task<bool>? waiting = null;
        var batch = new List<PendingAppend>(_options.MaxBatchSize);
        try
        {
            while (true)
            {
                waiting ??= _queue.Reader.WaitToReadAsync().AsTask();
                if (!waiting.IsCompleted && _signer is not null && _state is { } state && state.Head > state.CheckpointSize)
                {
                    var due = state.CheckpointTime + _options.CheckpointInterval - _time.GetUtcNow();
                    if (due > TimeSpan.Zero)
                    {
                        using var delay = new CancellationTokenSource();
                        await Task.WhenAny(waiting, Task.Delay(due, _time, delay.Token)).ConfigureAwait(false);
                        await delay.CancelAsync().ConfigureAwait(false);
                    }

                    if (!waiting.IsCompleted)
                    {
                        batch.Add(new PendingAppend(null, [], default));
                        connection = await CommitAsync(connection, batch).ConfigureAwait(false);
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

                connection = await CommitAsync(connection, batch).ConfigureAwait(false);
                batch.Clear();
            }

            // Clean shutdown: anchor the tail so it does not stay protected by the chain alone.
            if (_signer is not null && _state is { } last && last.Head > last.CheckpointSize)
            {
                batch.Add(new PendingAppend(null, [], default));
                connection = await CommitAsync(connection, batch).ConfigureAwait(false);
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Commits one batch in one transaction; completes every waiter with its entry, or fails every waiter with the error.</summary>
    private async Task<NpgsqlConnection?> CommitAsync(NpgsqlConnection? connection, List<PendingAppend> batch)
    {
        var entries = new AuditEntry?[batch.Count];
        AuditCheckpoint? checkpoint = null;
        try
        {
            connection ??= await _dataSource.OpenConnectionAsync(CancellationToken.None).ConfigureAwait(false);
            var state = await BeginAsync(connection).ConfigureAwait(false);
            var head = state.Head;
            var hash = state.HeadHash;
            var frontier = state.Frontier.Clone();
            var rows = new BatchRows(batch.Count);
            var recordIds = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < batch.Count; i++)
            {
                var pending = batch[i];
                if (pending.Record is not { } record)
                {
                    continue;
                }

                if (!recordIds.Add(record.RecordId))
                {
                    throw new InvalidOperationException($"Record id {record.RecordId} appears twice in one batch.");
                }

                head++;
                hash = AuditChain.Link(hash, head, pending.Payload);
                frontier.Append(AuditMerkle.LeafHash(pending.Payload));
                rows.Add(head, record, pending.Payload, hash, pending.Index);
                entries[i] = new AuditEntry(head, hash, record);
            }

            await using var insert = new NpgsqlBatch(connection);
            rows.AddCommands(insert, this);
            var now = _time.GetUtcNow();
            var checkpointSize = state.CheckpointSize;
            var checkpointTime = state.CheckpointTime;
            var wantsCheckpoint = batch.Exists(static p => p.Record is null)
                || head - state.CheckpointSize >= _options.CheckpointEvery
                || now - state.CheckpointTime >= _options.CheckpointInterval;
            if (_signer is not null && head > state.CheckpointSize && wantsCheckpoint)
            {
                checkpoint = AuditCheckpoint.Create(head, now, hash, Convert.ToHexStringLower(frontier.Root()), _signer);
                insert.BatchCommands.Add(CheckpointCommand(checkpoint, frontier));
                checkpointSize = head;
                checkpointTime = now;
            }

            // The inserts and COMMIT travel together: one round trip, and if any insert fails the COMMIT is skipped.
            insert.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            await insert.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            Interlocked.Increment(ref _commits);
            _state = new WriterState(head, hash, frontier, checkpointSize, checkpointTime);
        }
        catch (Exception exception)
        {
            // Nothing of this batch is durable (or, if only the acknowledgement of COMMIT was lost, its callers are
            // still told it failed and release nothing): fail every waiter, and drop the connection and cached state.
            _state = null;
            if (connection is not null)
            {
                await RollBackAsync(connection).ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var pending in batch)
            {
                pending.Completion.TrySetException(exception);
            }

            return null;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Checkpoint = checkpoint;
            batch[i].Completion.TrySetResult(entries[i]);
        }

        return connection;
    }

    /// <summary>Opens the write transaction, takes the writer lock, then reads the head and the last checkpoint,
    /// reusing the cached Merkle frontier when no other process has appended since.</summary>
    private async Task<WriterState> BeginAsync(NpgsqlConnection connection)
    {
        long head = 0;
        var headHash = AuditChain.Genesis;
        long checkpointSize = 0;
        DateTimeOffset? checkpointTime = null;
        byte[]? saved = null;

        // One round trip: the statements after LOCK run with snapshots taken after the lock is granted (READ COMMITTED),
        // so they see every batch another writer committed before. BEGIN and COMMIT are sent as statements (not through
        // NpgsqlTransaction) so that the commit can share the inserts' round trip.
        await using (var read = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("BEGIN"),
                new NpgsqlBatchCommand($"LOCK TABLE {_log} IN SHARE ROW EXCLUSIVE MODE"),
                new NpgsqlBatchCommand($"SELECT seq, hash FROM {_log} ORDER BY seq DESC LIMIT 1"),
                new NpgsqlBatchCommand($"SELECT tree_size, time, frontier FROM {_checkpoints} ORDER BY tree_size DESC LIMIT 1"),
            },
        })
        await using (var reader = await read.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false))
        {
            if (await reader.ReadAsync().ConfigureAwait(false))
            {
                head = reader.GetInt64(0);
                headHash = reader.GetString(1);
            }

            await reader.NextResultAsync().ConfigureAwait(false);
            if (await reader.ReadAsync().ConfigureAwait(false))
            {
                checkpointSize = reader.GetInt64(0);
                checkpointTime = ParseTime(reader.GetString(1));
                saved = reader.GetFieldValue<byte[]>(2);
            }
        }

        if (_state is { } cached && cached.Head == head && cached.HeadHash == headHash && cached.CheckpointSize == checkpointSize)
        {
            return cached;
        }

        // Another process appended, or this writer is starting: rebuild the frontier from the last checkpoint.
        var frontier = saved is null || checkpointSize > head ? new MerkleFrontier() : MerkleFrontier.Load(saved);
        await using (var command = new NpgsqlCommand($"SELECT payload, leaf_hash FROM {_log} WHERE seq > @after ORDER BY seq", connection))
        {
            command.Parameters.Add(new NpgsqlParameter<long>("after", NpgsqlDbType.Bigint) { TypedValue = frontier.Size });
            await using var reader = await command.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                frontier.Append(reader.IsDBNull(1) ? AuditMerkle.LeafHash(reader.GetFieldValue<byte[]>(0)) : Convert.FromHexString(reader.GetString(1)));
            }
        }

        return new WriterState(head, headHash, frontier, checkpointSize, checkpointTime ?? _time.GetUtcNow());
    }

    /// <summary>Brings a log created before retention up to date in place, inside the schema-creation transaction:
    /// adds <c>leaf_hash</c>, the kept leaf hash of an expired entry (null while the payload is the hashed record).</summary>
    private async Task MigrateAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        bool present;
        await using (var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = @table::regclass AND attname = 'leaf_hash' AND NOT attisdropped)", connection, transaction))
        {
            command.Parameters.Add(new NpgsqlParameter<string>("table", NpgsqlDbType.Text) { TypedValue = _log });
            present = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
        }

        if (!present)
        {
            // Adding a nullable column without a default rewrites nothing: existing rows read it as null (live entries).
            await using var alter = new NpgsqlCommand($"ALTER TABLE {_log} ADD COLUMN IF NOT EXISTS leaf_hash text", connection, transaction);
            await alter.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Lists, in one snapshot, the checkpointed live entries that have expired (at most <paramref name="max"/>,
    /// oldest first), the tree size of the last checkpoint, and how many checkpointed entries are held.</summary>
    private async Task<(long Covered, List<AuditExpiredEntry> Candidates, long Held)> FindExpiredAsync(AuditRetentionSchedule schedule, int max, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"""
            WITH c AS (SELECT coalesce(max(tree_size), 0) AS covered FROM {_checkpoints})
            SELECT c.covered, l.seq, l.record_id, l.payload
            FROM c LEFT JOIN {_log} l ON l.seq <= c.covered AND l.leaf_hash IS NULL
            ORDER BY l.seq
            """);
        long covered = 0, held = 0;
        var candidates = new List<AuditExpiredEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            covered = reader.GetInt64(0);
            if (reader.IsDBNull(1))
            {
                continue;
            }

            var verdict = schedule.Classify(AuditJson.Deserialize(reader.GetFieldValue<byte[]>(3)));
            held += verdict.Class == AuditRetentionPolicy.HeldClass ? 1 : 0;
            if (verdict.Expired && candidates.Count < max)
            {
                candidates.Add(new AuditExpiredEntry(reader.GetInt64(1), reader.GetString(2), verdict.Class));
            }
        }

        return (covered, candidates, held);
    }

    /// <summary>Re-reads, inside the write transaction, the candidates that are still checkpointed live entries.</summary>
    private async Task<Dictionary<long, (string RecordId, byte[] Payload)>> ReadLiveAsync(NpgsqlConnection connection, List<AuditExpiredEntry> candidates, long covered, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT seq, record_id, payload FROM {_log} WHERE seq = ANY(@seq) AND seq <= @covered AND leaf_hash IS NULL", connection);
        command.Parameters.Add(new NpgsqlParameter<long[]>("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. candidates.Select(static c => c.Sequence)] });
        command.Parameters.Add(new NpgsqlParameter<long>("covered", NpgsqlDbType.Bigint) { TypedValue = covered });
        var live = new Dictionary<long, (string RecordId, byte[] Payload)>(candidates.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            live[reader.GetInt64(0)] = (reader.GetString(1), reader.GetFieldValue<byte[]>(2));
        }

        return live;
    }

    private static NpgsqlBatchCommand DeleteIndexRows(string table, long[] sequences) =>
        new($"DELETE FROM {table} WHERE seq = ANY(@seq)")
        {
            Parameters = { new NpgsqlParameter<long[]>("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = sequences } },
        };

    /// <summary>The insert of a signed checkpoint with the Merkle frontier it was computed from.</summary>
    private NpgsqlBatchCommand CheckpointCommand(AuditCheckpoint checkpoint, MerkleFrontier frontier) =>
        new($"INSERT INTO {_checkpoints} (tree_size, time, chain_head, merkle_root, key_id, signature, frontier) VALUES (@size, @time, @head, @root, @key, @signature, @frontier)")
        {
            Parameters =
            {
                new NpgsqlParameter<long>("size", NpgsqlDbType.Bigint) { TypedValue = checkpoint.TreeSize },
                new NpgsqlParameter<string>("time", NpgsqlDbType.Text) { TypedValue = checkpoint.Time.ToString("O", CultureInfo.InvariantCulture) },
                new NpgsqlParameter<string>("head", NpgsqlDbType.Text) { TypedValue = checkpoint.ChainHead },
                new NpgsqlParameter<string>("root", NpgsqlDbType.Text) { TypedValue = checkpoint.MerkleRoot },
                new NpgsqlParameter<string>("key", NpgsqlDbType.Text) { TypedValue = checkpoint.KeyId },
                new NpgsqlParameter<string>("signature", NpgsqlDbType.Text) { TypedValue = checkpoint.Signature },
                new NpgsqlParameter<byte[]>("frontier", NpgsqlDbType.Bytea) { TypedValue = frontier.Save() },
            },
        };

    /// <summary>Ends a failed write transaction before the connection goes back to the pool; a broken connection is discarded by the pool instead.</summary>
    private static async Task RollBackAsync(NpgsqlConnection connection)
    {
        try
        {
            await using var command = new NpgsqlCommand("ROLLBACK", connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException)
        {
            // Already broken or closed: nothing to roll back on this connection.
        }
    }

    private async Task<AuditPage> PageAsync(string seqQuery, string key, AuditPageRequest page, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(page);
        ArgumentOutOfRangeException.ThrowIfLessThan(page.Limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(page.Limit, AuditPageRequest.MaxLimit);
        if (key.Contains('\0', StringComparison.Ordinal))
        {
            return new AuditPage([], null);
        }

        await using var command = _dataSource.CreateCommand($"SELECT seq, hash, payload FROM {_log} WHERE seq IN ({seqQuery}) ORDER BY seq LIMIT @limit");
        command.Parameters.Add(new NpgsqlParameter<string>("key", NpgsqlDbType.Text) { TypedValue = key });
        command.Parameters.Add(new NpgsqlParameter<long>("after", NpgsqlDbType.Bigint) { TypedValue = page.AfterSequence });
        command.Parameters.Add(new NpgsqlParameter<int>("limit", NpgsqlDbType.Integer) { TypedValue = page.Limit + 1 });
        var entries = new List<AuditEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(ReadEntry(reader));
        }

        if (entries.Count <= page.Limit)
        {
            return new AuditPage(entries, null);
        }

        entries.RemoveAt(entries.Count - 1);
        return new AuditPage(entries, entries[^1].Sequence);
    }

    /// <summary>Streams the stored entries with their index rows (one query, one snapshot) and notes the first entry
    /// whose index rows differ from those its record implies.</summary>
    private async IAsyncEnumerable<StoredAuditEntry> ReadCheckingIndexesAsync(IndexCheck check, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"""
            SELECT l.seq, l.record_id, l.payload, l.hash, l.leaf_hash, d.documents, d.chunks, s.subjects, a.receipts
            FROM {_log} l
            LEFT JOIN (SELECT seq, array_agg(document_id) AS documents, array_agg(chunk_id) AS chunks FROM {_documents} GROUP BY seq) d ON d.seq = l.seq
            LEFT JOIN (SELECT seq, array_agg(subject_id) AS subjects FROM {_subjects} GROUP BY seq) s ON s.seq = l.seq
            LEFT JOIN (SELECT seq, array_agg(receipt_id) AS receipts FROM {_answers} GROUP BY seq) a ON a.seq = l.seq
            ORDER BY l.seq
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var entry = ReadStored(reader);
            if (check.FirstBad is null)
            {
                // A tombstone's record has no chunks and no answer, so it must have no index rows left.
                var stored = new AuditIndexRows(
                    reader.IsDBNull(5) ? [] : [.. reader.GetFieldValue<string[]>(5).Zip(reader.GetFieldValue<string[]>(6))],
                    reader.IsDBNull(7) ? [] : [.. reader.GetFieldValue<string[]>(7)],
                    reader.IsDBNull(8) ? [] : [.. reader.GetFieldValue<string[]>(8)]);
                if (!Matches(entry.Payload.Span, stored))
                {
                    check.FirstBad = entry.Sequence;
                }
            }

            yield return entry;
        }

        static bool Matches(ReadOnlySpan<byte> payload, AuditIndexRows stored)
        {
            try
            {
                return AuditIndexRows.Of(AuditJson.Deserialize(payload)).SameAs(stored);
            }
            catch (JsonException)
            {
                // An unreadable record is the verifier's to report.
                return true;
            }
        }
    }

    /// <summary>Reads <c>seq, record_id, payload, hash, leaf_hash</c> (the first five columns).</summary>
    private static StoredAuditEntry ReadStored(NpgsqlDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetString(3))
        {
            LeafHash = reader.IsDBNull(4) ? null : reader.GetString(4),
        };

    private static AuditEntry ReadEntry(NpgsqlDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), AuditJson.Deserialize(reader.GetFieldValue<byte[]>(2)));

    private static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    /// <summary>The rows of one batch, as column arrays for multi-row inserts (<c>unnest</c>).</summary>
    private sealed class BatchRows(int capacity)
    {
        private readonly List<long> _seq = new(capacity);
        private readonly List<string> _ids = new(capacity);
        private readonly List<DateTimeOffset> _times = new(capacity);
        private readonly List<string> _subjectIds = new(capacity);
        private readonly List<byte[]> _payloads = new(capacity);
        private readonly List<string> _hashes = new(capacity);
        private readonly List<long> _documentSeq = [];
        private readonly List<string> _documents = [];
        private readonly List<string> _chunks = [];
        private readonly List<long> _subjectSeq = [];
        private readonly List<string> _subjects = [];
        private readonly List<long> _answerSeq = [];
        private readonly List<string> _receipts = [];

        public void Add(long sequence, AuditRecord record, byte[] payload, string hash, AuditIndexRows index)
        {
            _seq.Add(sequence);
            _ids.Add(record.RecordId);
            _times.Add(record.Time.ToUniversalTime());
            _subjectIds.Add(record.SubjectId);
            _payloads.Add(payload);
            _hashes.Add(hash);
            foreach (var (document, chunk) in index.Documents)
            {
                _documentSeq.Add(sequence);
                _documents.Add(document);
                _chunks.Add(chunk);
            }

            foreach (var subject in index.Subjects)
            {
                _subjectSeq.Add(sequence);
                _subjects.Add(subject);
            }

            foreach (var receipt in index.Receipts)
            {
                _answerSeq.Add(sequence);
                _receipts.Add(receipt);
            }
        }

        public void AddCommands(NpgsqlBatch batch, PostgreSqlAuditLog log)
        {
            if (_seq.Count == 0)
            {
                return;
            }

            batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {log._log} (seq, record_id, time, subject_id, payload, hash) SELECT * FROM unnest(@seq, @id, @time, @subject, @payload, @hash)")
            {
                Parameters =
                {
                    Longs("seq", _seq),
                    Texts("id", _ids),
                    new NpgsqlParameter<DateTimeOffset[]>("time", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = [.. _times] },
                    Texts("subject", _subjectIds),
                    new NpgsqlParameter<byte[][]>("payload", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { TypedValue = [.. _payloads] },
                    Texts("hash", _hashes),
                },
            });
            if (_documentSeq.Count > 0)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {log._documents} (seq, document_id, chunk_id) SELECT * FROM unnest(@seq, @a, @b)")
                {
                    Parameters = { Longs("seq", _documentSeq), Texts("a", _documents), Texts("b", _chunks) },
                });
            }

            if (_subjectSeq.Count > 0)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {log._subjects} (seq, subject_id) SELECT * FROM unnest(@seq, @a)")
                {
                    Parameters = { Longs("seq", _subjectSeq), Texts("a", _subjects) },
                });
            }

            if (_answerSeq.Count > 0)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {log._answers} (seq, receipt_id) SELECT * FROM unnest(@seq, @a)")
                {
                    Parameters = { Longs("seq", _answerSeq), Texts("a", _receipts) },
                });
            }
        }

        private static NpgsqlParameter<long[]> Longs(string name, List<long> values) =>
            new(name, NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. values] };

        private static NpgsqlParameter<string[]> Texts(string name, List<string> values) =>
            new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. values] };
    }

    private sealed class IndexCheck
    {
        public long? FirstBad { get; set; }
    }

    private sealed class PendingAppend(AuditRecord? record, byte[] payload, AuditIndexRows index)
    {
        /// <summary>Gets the record, or <see langword="null"/> for a checkpoint request.</summary>
        public AuditRecord? Record { get; } = record;

        public byte[] Payload { get; } = payload;

        public AuditIndexRows Index { get; } = index;

        public TaskCompletionSource<AuditEntry?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public AuditCheckpoint? Checkpoint { get; set; }
    }

    private sealed record WriterState(long Head, string HeadHash, MerkleFrontier Frontier, long CheckpointSize, DateTimeOffset CheckpointTime);
}
