using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
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
/// <para>The queue, the chain, the Merkle state, checkpoint signing and the retention run are the writer every database
/// log shares (<c>ChainedAuditWriter</c>); this class holds only the PostgreSQL SQL, as its backend.</para>
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
    private readonly ChainedAuditWriter _writer;
    private readonly Lock _initialization = new();
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
        _writer = new ChainedAuditWriter(new Backend(this), new(_options.MaxBatchSize, _options.CheckpointEvery, _options.CheckpointInterval, AnchorWhenIdle: true), signer, _time, nameof(PostgreSqlAuditLog));
    }

    /// <summary>Gets the number of transactions the writer has committed (for tests and metrics).</summary>
    public long Commits => _writer.Commits;

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
            _writer.Start();
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">An indexed id of the record holds U+0000, which PostgreSQL text cannot store.</exception>
    public async Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!_writer.Started)
        {
            throw new InvalidOperationException("The audit log is not initialized.");
        }

        var rows = AuditIndexRows.Of(record);
        if (rows.FieldsWithNul(record) is { Count: > 0 } bad)
        {
            throw new ArgumentException($"Audit record '{record.RecordId.Replace("\0", "\\u0000", StringComparison.Ordinal)}' cannot be stored in PostgreSQL: {string.Join(", ", bad)} hold U+0000, which PostgreSQL text cannot store.", nameof(record));
        }

        return await _writer.AppendAsync(record, rows, cancellationToken).ConfigureAwait(false);
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

        if (!_writer.Started)
        {
            throw new InvalidOperationException("The audit log is not initialized.");
        }

        return await _writer.ApplyRetentionAsync(policy, run, cancellationToken).ConfigureAwait(false);
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
    public async Task<AuditCheckpoint?> CheckpointAsync(CancellationToken cancellationToken) =>
        _signer is null ? null : await _writer.RequestAsync(ChainedAuditWriter.RequestKind.Checkpoint, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _writer.DisposeAsync().ConfigureAwait(false);
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

    /// <summary>The PostgreSQL SQL under the shared <see cref="ChainedAuditWriter"/>. The writer keeps one connection
    /// across commits; every write transaction locks <c>audit_log</c> against other writers (<c>SHARE ROW EXCLUSIVE</c>,
    /// which never blocks readers) before it reads the head.</summary>
    private sealed class Backend(PostgreSqlAuditLog log) : IAuditBackend
    {
        private NpgsqlConnection? _connection;

        public bool HasDeferredWork => false;

        public async Task<IAuditWriteTransaction> BeginAsync(CancellationToken cancellationToken)
        {
            _connection ??= await log._dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await WriteTransaction.BeginAsync(log, _connection, ownsConnection: false).ConfigureAwait(false);
        }

        public async Task<IAuditWriteTransaction> BeginRetentionAsync(CancellationToken cancellationToken)
        {
            var connection = await log._dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await WriteTransaction.BeginAsync(log, connection, ownsConnection: true).ConfigureAwait(false);
        }

        public ValueTask ResetAsync() => DisposeAsync();

        public async ValueTask DisposeAsync()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        /// <summary>Lists, in one snapshot, the checkpointed live entries and the tree size of the last checkpoint.</summary>
        public async Task<long> ScanCheckpointedAsync(Action<long, string, byte[]> visit, CancellationToken cancellationToken)
        {
            await using var command = log._dataSource.CreateCommand($"""
                WITH c AS (SELECT coalesce(max(tree_size), 0) AS covered FROM {log._checkpoints})
                SELECT c.covered, l.seq, l.record_id, l.payload
                FROM c LEFT JOIN {log._log} l ON l.seq <= c.covered AND l.leaf_hash IS NULL
                ORDER BY l.seq
                """);
            long covered = 0;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                covered = reader.GetInt64(0);
                if (!reader.IsDBNull(1))
                {
                    visit(reader.GetInt64(1), reader.GetString(2), reader.GetFieldValue<byte[]>(3));
                }
            }

            return covered;
        }
    }

    /// <summary>One write transaction. BEGIN and COMMIT are sent as statements (not through <see cref="NpgsqlTransaction"/>)
    /// so that the lock and the head reads share one round trip, and the inserts and COMMIT another: if any statement
    /// fails, the COMMIT is skipped.</summary>
    private sealed class WriteTransaction(PostgreSqlAuditLog log, NpgsqlConnection connection, AuditStoredHead head, bool ownsConnection) : IAuditWriteTransaction
    {
        private readonly BatchRows _rows = new(16);
        private readonly List<NpgsqlBatchCommand> _before = [];
        private NpgsqlBatchCommand? _checkpoint;
        private bool _ended;

        public AuditStoredHead Head { get; } = head;

        /// <summary>Opens the transaction, takes the writer lock, then reads the head and the last checkpoint.</summary>
        public static async Task<WriteTransaction> BeginAsync(PostgreSqlAuditLog log, NpgsqlConnection connection, bool ownsConnection)
        {
            var stored = AuditStoredHead.Empty;
            try
            {
                // One round trip: the statements after LOCK run with snapshots taken after the lock is granted (READ
                // COMMITTED), so they see every batch another writer committed before.
                await using var read = new NpgsqlBatch(connection)
                {
                    BatchCommands =
                    {
                        new NpgsqlBatchCommand("BEGIN"),
                        new NpgsqlBatchCommand($"LOCK TABLE {log._log} IN SHARE ROW EXCLUSIVE MODE"),
                        new NpgsqlBatchCommand($"SELECT seq, hash FROM {log._log} ORDER BY seq DESC LIMIT 1"),
                        new NpgsqlBatchCommand($"SELECT tree_size, time, frontier FROM {log._checkpoints} ORDER BY tree_size DESC LIMIT 1"),
                    },
                };
                await using var reader = await read.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
                if (await reader.ReadAsync().ConfigureAwait(false))
                {
                    stored = stored with { Head = reader.GetInt64(0), HeadHash = reader.GetString(1) };
                }

                await reader.NextResultAsync().ConfigureAwait(false);
                if (await reader.ReadAsync().ConfigureAwait(false))
                {
                    stored = stored with { CheckpointSize = reader.GetInt64(0), CheckpointTime = ParseTime(reader.GetString(1)), Frontier = reader.GetFieldValue<byte[]>(2) };
                }
            }
            catch (Exception)
            {
                await RollBackAsync(connection).ConfigureAwait(false);
                if (ownsConnection)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }

                throw;
            }

            return new WriteTransaction(log, connection, stored, ownsConnection);
        }

        public async Task ReadLeavesAsync(MerkleFrontier frontier)
        {
            await using var command = new NpgsqlCommand($"SELECT payload, leaf_hash FROM {log._log} WHERE seq > @after ORDER BY seq", connection);
            command.Parameters.Add(new NpgsqlParameter<long>("after", NpgsqlDbType.Bigint) { TypedValue = frontier.Size });
            await using var reader = await command.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                frontier.Append(reader.IsDBNull(1) ? AuditMerkle.LeafHash(reader.GetFieldValue<byte[]>(0)) : Convert.FromHexString(reader.GetString(1)));
            }
        }

        /// <summary>Collects the row and its index rows for the multi-row inserts sent with the COMMIT.</summary>
        public ValueTask AddEntryAsync(AuditChainedRow row)
        {
            _rows.Add(row.Sequence, row.Record, row.Payload, row.Hash, row.Index ?? AuditIndexRows.Of(row.Record));
            return ValueTask.CompletedTask;
        }

        /// <summary>Nothing to do: index rows go in with their entries.</summary>
        public Task IndexAsync(long head, bool complete) => Task.CompletedTask;

        public Task AddCheckpointAsync(AuditCheckpoint checkpoint, MerkleFrontier frontier)
        {
            _checkpoint = log.CheckpointCommand(checkpoint, frontier);
            return Task.CompletedTask;
        }

        public async Task<Dictionary<long, (string RecordId, byte[] Payload)>> ReadLiveAsync(IReadOnlyList<long> sequences, long covered, CancellationToken cancellationToken)
        {
            await using var command = new NpgsqlCommand($"SELECT seq, record_id, payload FROM {log._log} WHERE seq = ANY(@seq) AND seq <= @covered AND leaf_hash IS NULL", connection);
            command.Parameters.Add(new NpgsqlParameter<long[]>("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. sequences] });
            command.Parameters.Add(new NpgsqlParameter<long>("covered", NpgsqlDbType.Bigint) { TypedValue = covered });
            var live = new Dictionary<long, (string RecordId, byte[] Payload)>(sequences.Count);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                live[reader.GetInt64(0)] = (reader.GetString(1), reader.GetFieldValue<byte[]>(2));
            }

            return live;
        }

        /// <summary>Collects the tombstone update and the index deletes, sent before the inserts in the COMMIT's round trip.</summary>
        public Task ExpireAsync(IReadOnlyList<AuditTombstoneRow> tombstones, string subjectId, CancellationToken cancellationToken)
        {
            long[] sequences = [.. tombstones.Select(static t => t.Sequence)];
            _before.Add(new NpgsqlBatchCommand($"UPDATE {log._log} l SET payload = u.payload, leaf_hash = u.leaf, subject_id = @subject FROM unnest(@seq, @payload, @leaf) AS u(seq, payload, leaf) WHERE l.seq = u.seq")
            {
                Parameters =
                {
                    new NpgsqlParameter<string>("subject", NpgsqlDbType.Text) { TypedValue = subjectId },
                    new NpgsqlParameter<long[]>("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = sequences },
                    new NpgsqlParameter<byte[][]>("payload", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { TypedValue = [.. tombstones.Select(static t => t.Payload)] },
                    new NpgsqlParameter<string[]>("leaf", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. tombstones.Select(static t => t.LeafHash)] },
                },
            });
            _before.Add(DeleteIndexRows(log._documents, sequences));
            _before.Add(DeleteIndexRows(log._subjects, sequences));
            _before.Add(DeleteIndexRows(log._answers, sequences));
            return Task.CompletedTask;
        }

        public async Task CommitAsync()
        {
            await using var batch = new NpgsqlBatch(connection);
            foreach (var command in _before)
            {
                batch.BatchCommands.Add(command);
            }

            _rows.AddCommands(batch, log);
            if (_checkpoint is not null)
            {
                batch.BatchCommands.Add(_checkpoint);
            }

            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            await batch.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            _ended = true;
        }

        public async Task RollbackAsync()
        {
            if (!_ended)
            {
                _ended = true;
                await RollBackAsync(connection).ConfigureAwait(false);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (ownsConnection)
            {
                await RollbackAsync().ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
