using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using CopilotGuard.Audit;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite;

/// <summary>An append-only, hash-chained audit log in a SQLite file (WAL, synchronous=FULL) with group commit and signed checkpoints.</summary>
/// <remarks>
/// <para>Concurrent appends queue to one writer, which commits every queued record in one transaction (one fsync);
/// each caller's task completes only after its batch is durable, and if the commit fails every caller in the batch gets
/// the exception and no record of the batch is in the log (fail closed).</para>
/// <para>The writer re-reads the head inside each write transaction (<c>BEGIN IMMEDIATE</c>), so several processes
/// (the server and the CLI) may append to the same file without forking the chain.</para>
/// <para>With a signer, the writer adds a signed checkpoint (tree size, chain head, RFC 9162 Merkle root) in the same
/// transaction every <see cref="SqliteAuditLogOptions.CheckpointEvery"/> entries, after
/// <see cref="SqliteAuditLogOptions.CheckpointInterval"/> with unanchored entries, and on dispose.</para>
/// <para>Retention (<see cref="ApplyRetentionAsync"/>) turns checkpointed entries into tombstones that keep their leaf
/// hash (column <c>leaf_hash</c>), and appends the retention record and a checkpoint over it in the same transaction.</para>
/// <para>The queue, the chain, the Merkle state, checkpoint signing and the retention run are the writer every database
/// log shares (<c>ChainedAuditWriter</c>); this class holds only the SQLite SQL, as its backend.</para>
/// </remarks>
public sealed class SqliteAuditLog : IAuditStore, IAuditRetention
{
    private static readonly TimeSpan WalCheckpointPeriod = TimeSpan.FromMilliseconds(250);

    /// <summary>How many WAL pages a commit may leave before it checkpoints them itself. The background passive checkpoints
    /// cannot finish while appends keep arriving, so without this the WAL file would grow with every commit, and an fsync
    /// that also changes the file's size costs about twice one that overwrites (0.23 vs 0.11 ms, <c>--audit-latency</c>);
    /// a checkpoint in a commit lets the next commit restart the WAL from its beginning. 4,000 pages (16 MB) makes that
    /// commit rare (about one in 1,300 retrievals).</summary>
    private const int WalAutoCheckpointPages = 4000;
    private const int SchemaVersion = 4;
    private readonly string _connectionString;
    private readonly SqliteAuditLogOptions _options;
    private readonly IAuditSigner? _signer;
    private readonly TimeProvider _time;
    private readonly ChainedAuditWriter _writer;
    private readonly Lock _initialization = new();
    private Task? _walCheckpoints;
    private readonly CancellationTokenSource _stopWalCheckpoints = new();

    /// <summary>Index rows of entries this writer committed and has not indexed yet (writer task only), kept as compact
    /// row buffers rather than the records, so nothing of a record outlives its request.</summary>
    private readonly PendingIndex _pending = new();
    private int _disposed;

    /// <summary>Creates a log over a SQLite file.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="options">Batching and checkpoint settings; the defaults when <see langword="null"/>.</param>
    /// <param name="signer">Signs checkpoints and verifies them; without one no checkpoints are written and a log that has some fails verification.</param>
    /// <param name="time">The clock for checkpoint times and intervals.</param>
    public SqliteAuditLog(string path, SqliteAuditLogOptions? options = null, IAuditSigner? signer = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _options = options ?? new SqliteAuditLogOptions();
        _options.Validate();
        _signer = signer;
        _time = time ?? TimeProvider.System;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        _writer = new ChainedAuditWriter(new Backend(this), new(_options.MaxBatchSize, _options.CheckpointEvery, _options.CheckpointInterval, AnchorWhenIdle: false), signer, _time, nameof(SqliteAuditLog));
    }

    /// <summary>Gets the number of transactions the writer has committed (for tests and metrics).</summary>
    public long Commits => _writer.Commits;

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS audit_log (
                    seq INTEGER PRIMARY KEY,
                    record_id TEXT NOT NULL UNIQUE,
                    time TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    hash TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS audit_documents (
                    seq INTEGER NOT NULL,
                    document_id TEXT NOT NULL,
                    chunk_id TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS ix_audit_documents ON audit_documents (document_id, seq);
                """;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await MigrateAsync(connection, cancellationToken).ConfigureAwait(false);
        lock (_initialization)
        {
            _writer.Start();
            _walCheckpoints ??= Task.Run(WalCheckpointLoopAsync, CancellationToken.None);
        }
    }

    /// <inheritdoc />
    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        return _writer.AppendAsync(record, null, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, hash, payload FROM audit_log WHERE record_id = $id";
        command.Parameters.AddWithValue("$id", recordId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadEntry(reader) : null;
    }

    /// <inheritdoc />
    public async Task<AuditPage> GetDocumentAccessesAsync(string documentId, AuditPageRequest page, CancellationToken cancellationToken)
    {
        await EnsureIndexedAsync(cancellationToken).ConfigureAwait(false);
        return await PageAsync("SELECT seq FROM audit_documents WHERE document_id = $key AND seq > $after", documentId, page, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<AuditPage> GetSubjectAccessesAsync(string subjectId, AuditPageRequest page, CancellationToken cancellationToken)
    {
        await EnsureIndexedAsync(cancellationToken).ConfigureAwait(false);
        return await PageAsync("SELECT seq FROM audit_subjects WHERE subject_id = $key AND seq > $after", subjectId, page, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditEntry>> GetAnswersForReceiptAsync(string receiptId, CancellationToken cancellationToken)
    {
        await EnsureIndexedAsync(cancellationToken).ConfigureAwait(false);
        var page = await PageAsync("SELECT seq FROM audit_answers WHERE receipt_id = $key AND seq > $after", receiptId, new AuditPageRequest(AuditPageRequest.MaxLimit), cancellationToken).ConfigureAwait(false);
        return page.Entries;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredAuditEntry> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await foreach (var entry in ReadAsync(connection, null, afterSequence, cancellationToken).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    /// <inheritdoc />
    /// <remarks>Finds the expired entries in a read snapshot, then, in one write transaction, re-checks each is still a
    /// checkpointed live entry, keeps its leaf hash, replaces its payload with a tombstone, deletes its index rows, appends
    /// the retention record and signs a checkpoint over it. Appends wait for that transaction only.</remarks>
    public async Task<AuditRetentionReport> ApplyRetentionAsync(AuditRetentionPolicy policy, AuditRetentionRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrEmpty(run.RunBy);
        ArgumentOutOfRangeException.ThrowIfLessThan(run.MaxEntries, 1);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return await _writer.ApplyRetentionAsync(policy, run, cancellationToken).ConfigureAwait(false);
    }

    private static async IAsyncEnumerable<StoredAuditEntry> ReadAsync(SqliteConnection connection, SqliteTransaction? transaction, long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT seq, record_id, payload, hash, leaf_hash FROM audit_log WHERE seq > $after ORDER BY seq";
        command.Parameters.AddWithValue("$after", afterSequence);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return new StoredAuditEntry(reader.GetInt64(0), reader.GetString(1), (byte[])reader.GetValue(2), reader.GetString(3))
            {
                LeafHash = reader.IsDBNull(4) ? null : reader.GetString(4),
            };
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditCheckpoint>> GetCheckpointsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ReadCheckpointsAsync(connection, null, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<AuditCheckpoint>> ReadCheckpointsAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT tree_size, time, chain_head, merkle_root, key_id, signature FROM audit_checkpoints ORDER BY rowid";
        var checkpoints = new List<AuditCheckpoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            checkpoints.Add(new AuditCheckpoint(
                reader.GetInt64(0),
                DateTimeOffset.Parse(reader.GetString(1), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5)));
        }

        return checkpoints;
    }

    /// <inheritdoc />
    /// <remarks>Checks the chain, every checkpoint signature and Merkle root, and that the document, subject and answer
    /// indexes match the hashed records (an index row removed to hide an access is reported).</remarks>
    public async Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        // Index what is committed so far; entries appended after this are checked by the next run. Indexing fails when the
        // index state was edited; the checks below then report what is wrong instead of this call throwing.
        try
        {
            await EnsureIndexedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is InvalidOperationException or SqliteException)
        {
        }

        // One read transaction (one snapshot) for checkpoints, entries and indexes, so a concurrent append or retention run
        // is either wholly seen or not at all.
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = connection.BeginTransaction(deferred: true);
        var checkpoints = await ReadCheckpointsAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        var verification = await AuditVerifier.VerifyAsync(ReadAsync(connection, transaction, 0, cancellationToken), checkpoints, _signer, cancellationToken).ConfigureAwait(false);
        if (!verification.Ok)
        {
            return verification;
        }

        var index = await VerifyIndexesAsync(connection, transaction, verification.Records, cancellationToken).ConfigureAwait(false);
        return index is null ? verification : verification with { Ok = false, FirstBadSequence = index.Value.Sequence, Problem = index.Value.Problem };
    }

    /// <inheritdoc />
    public async Task<AuditCheckpoint?> CheckpointAsync(CancellationToken cancellationToken) =>
        _signer is null ? null : await _writer.RequestAsync(ChainedAuditWriter.RequestKind.Checkpoint, cancellationToken).ConfigureAwait(false);

    /// <summary>Has the writer write the index rows of every committed entry (from any process); readers that query the
    /// document, subject or answer index tables call it first.</summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>A task that completes when every entry committed before the call is indexed.</returns>
    public Task EnsureIndexedAsync(CancellationToken cancellationToken) =>
        _writer.RequestAsync(ChainedAuditWriter.RequestKind.Index, cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopWalCheckpoints.CancelAsync().ConfigureAwait(false);
        if (_walCheckpoints is { } walCheckpoints)
        {
            await walCheckpoints.ConfigureAwait(false);
        }

        _stopWalCheckpoints.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
        _pending.Dispose();
    }

    /// <summary>The log's background upkeep, so no append waits for it: copies the write-ahead log into the database (a
    /// passive checkpoint, which never blocks the writer) after commits; and once the log has been quiet for
    /// <see cref="SqliteAuditLogOptions.IndexDelay"/>, asks the writer to index waiting entries and to anchor a tail older
    /// than <see cref="SqliteAuditLogOptions.CheckpointInterval"/>.</summary>
    private async Task WalCheckpointLoopAsync()
    {
        var period = TimeSpan.FromMilliseconds(Math.Min(_options.IndexDelay.TotalMilliseconds, Math.Min(_options.CheckpointInterval.TotalMilliseconds, WalCheckpointPeriod.TotalMilliseconds)));
        var checkpointed = _writer.Commits;
        var seen = checkpointed;
        var lastWalCheckpoint = _time.GetUtcNow();
        var lastCommitSeen = lastWalCheckpoint;
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopWalCheckpoints.Token).ConfigureAwait(false))
            {
                var commits = _writer.Commits;
                var now = _time.GetUtcNow();
                var idle = commits == seen;
                if (!idle)
                {
                    seen = commits;
                    lastCommitSeen = now;
                }

                // The writer owns the pending rows and the state; this only reads their size and time.
                var anchor = idle && _writer.CheckpointDue <= now;
                if (anchor || (idle && _pending.Count > 0 && now - lastCommitSeen >= _options.IndexDelay))
                {
                    // A failure is the writer's to report to appenders; the next quiet tick asks again.
                    await _writer.RequestQuietlyAsync(anchor ? ChainedAuditWriter.RequestKind.Checkpoint : ChainedAuditWriter.RequestKind.Index).ConfigureAwait(false);
                }

                if (commits == checkpointed || now - lastWalCheckpoint < WalCheckpointPeriod)
                {
                    continue;
                }

                try
                {
                    await using var connection = await OpenAsync(_stopWalCheckpoints.Token).ConfigureAwait(false);
                    await using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
                    await command.ExecuteNonQueryAsync(_stopWalCheckpoints.Token).ConfigureAwait(false);
                    checkpointed = commits;
                    lastWalCheckpoint = now;
                }
                catch (SqliteException)
                {
                    // Busy or failing: the committed records are durable in the WAL either way; the next tick tries again.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }


    /// <summary>Writes the index rows of every entry after the index mark up to <paramref name="head"/> and moves the mark,
    /// inside the caller's write transaction. The writer's pending rows are used when they cover exactly those entries;
    /// otherwise (another process appended or indexed meanwhile, or the writer restarted) the rows come from the log.</summary>
    private static async Task CatchUpIndexesAsync(Statements statements, SqliteTransaction transaction, long head, PendingIndex? pending)
    {
        long through;
        await using (var reader = await statements.Get(transaction, "SELECT indexed_through FROM audit_index_state WHERE id = 1").ExecuteReaderAsync().ConfigureAwait(false))
        {
            through = await reader.ReadAsync().ConfigureAwait(false) ? reader.GetInt64(0) : throw new InvalidOperationException("The audit index mark (audit_index_state) is missing.");
        }

        if (through >= head)
        {
            return;
        }

        using var fromLog = pending is { Count: > 0 } && pending.From == through + 1 && pending.Through == head ? null : new PendingIndex();
        if (fromLog is not null)
        {
            var read = statements.Get(transaction, "SELECT seq, payload FROM audit_log WHERE seq > $from AND seq <= $to ORDER BY seq", "$from", "$to");
            read.Parameters["$from"].Value = through;
            read.Parameters["$to"].Value = head;
            await using var reader = await read.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                fromLog.Add(reader.GetInt64(0), AuditJson.Deserialize((byte[])reader.GetValue(1)));
            }
        }

        // One statement per table (a JSON array read with json_each), not one per row.
        var rows = fromLog ?? pending!;
        await rows.Documents.FlushAsync(statements.Get(transaction, "INSERT INTO audit_documents (seq, document_id, chunk_id) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each($rows)", "$rows")).ConfigureAwait(false);
        await rows.Subjects.FlushAsync(statements.Get(transaction, "INSERT INTO audit_subjects (seq, subject_id) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($rows)", "$rows")).ConfigureAwait(false);
        await rows.Answers.FlushAsync(statements.Get(transaction, "INSERT INTO audit_answers (seq, receipt_id) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($rows)", "$rows")).ConfigureAwait(false);
        var mark = statements.Get(transaction, "UPDATE audit_index_state SET indexed_through = $head WHERE id = 1", "$head");
        mark.Parameters["$head"].Value = head;
        await mark.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private async Task<AuditPage> PageAsync(string seqQuery, string key, AuditPageRequest page, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(page);
        ArgumentOutOfRangeException.ThrowIfLessThan(page.Limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(page.Limit, AuditPageRequest.MaxLimit);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT seq, hash, payload FROM audit_log WHERE seq IN ({seqQuery}) ORDER BY seq LIMIT $limit";
        command.Parameters.AddWithValue("$key", key);
        command.Parameters.AddWithValue("$after", page.AfterSequence);
        command.Parameters.AddWithValue("$limit", page.Limit + 1);
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

    /// <summary>Recomputes the document, subject and answer index rows from the hashed records and compares them with the stored rows.</summary>
    private static async Task<(long Sequence, string Problem)?> VerifyIndexesAsync(SqliteConnection connection, SqliteTransaction transaction, long records, CancellationToken cancellationToken)
    {
        // Entries after the index mark have no index rows yet (they are indexed behind the appends); a row after the mark,
        // or a mark after the last entry, means the index was edited.
        long mark;
        await using (var command = Command(connection, transaction, "SELECT indexed_through FROM audit_index_state WHERE id = 1"))
        {
            mark = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long value ? value : -1;
        }

        if (mark < 0 || mark > records)
        {
            return (Math.Max(mark, 0), mark < 0 ? "the audit index mark is missing" : $"the audit index mark ({mark}) is past the last entry ({records})");
        }

        var expected = new SortedDictionary<long, List<string>>();
        await foreach (var entry in ReadAsync(connection, transaction, 0, cancellationToken).ConfigureAwait(false))
        {
            if (entry.Sequence > mark)
            {
                break;
            }

            var index = AuditIndexRows.Of(AuditJson.Deserialize(entry.Payload.Span));
            var rows = new List<string>();
            rows.AddRange(index.Documents.Select(static d => $"d\n{d.Document}\n{d.Chunk}"));
            rows.AddRange(index.Subjects.Select(static s => $"s\n{s}"));
            rows.AddRange(index.Receipts.Select(static r => $"a\n{r}"));
            if (rows.Count > 0)
            {
                rows.Sort(StringComparer.Ordinal);
                expected[entry.Sequence] = rows;
            }
        }

        var actual = new SortedDictionary<long, List<string>>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = """
                SELECT seq, 'd' || char(10) || document_id || char(10) || chunk_id FROM audit_documents WHERE seq <= $n
                UNION ALL SELECT seq, 's' || char(10) || subject_id FROM audit_subjects WHERE seq <= $n
                UNION ALL SELECT seq, 'a' || char(10) || receipt_id FROM audit_answers WHERE seq <= $n
                """;
            command.Parameters.AddWithValue("$n", records);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var sequence = reader.GetInt64(0);
                if (!actual.TryGetValue(sequence, out var rows))
                {
                    actual[sequence] = rows = [];
                }

                rows.Add(reader.GetString(1));
            }
        }

        foreach (var sequence in expected.Keys.Union(actual.Keys).Order())
        {
            var want = expected.GetValueOrDefault(sequence) ?? [];
            var have = actual.GetValueOrDefault(sequence) ?? [];
            have.Sort(StringComparer.Ordinal);
            if (!want.SequenceEqual(have, StringComparer.Ordinal))
            {
                return (sequence, $"entry {sequence}: the document, subject or answer index does not match the hashed record (index rows removed, added or edited)");
            }
        }

        return null;
    }

    private async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        long version;
        await using (var command = Command(connection, transaction, "PRAGMA user_version"))
        {
            version = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L);
        }

        if (version >= SchemaVersion)
        {
            return;
        }

        if (version < 2)
        {
            await MigrateToVersion2Async(connection, transaction, cancellationToken).ConfigureAwait(false);
        }

        // Version 3: the kept leaf hash of entries expired under retention (null while the payload is the hashed record).
        await using (var command = Command(connection, transaction, "SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'leaf_hash'"))
        {
            if ((long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L) == 0)
            {
                await using var alter = Command(connection, transaction, "ALTER TABLE audit_log ADD COLUMN leaf_hash TEXT");
                await alter.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        // Version 4: index rows are written behind the appends; the mark says how far. Earlier versions indexed every entry.
        await using (var command = Command(connection, transaction, """
            CREATE TABLE IF NOT EXISTS audit_index_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL);
            INSERT OR IGNORE INTO audit_index_state (id, indexed_through) SELECT 1, coalesce(max(seq), 0) FROM audit_log;
            """))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var command = Command(connection, transaction, $"PRAGMA user_version = {SchemaVersion}"))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task MigrateToVersion2Async(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        await using (var command = Command(connection, transaction, """
            CREATE TABLE IF NOT EXISTS audit_subjects (seq INTEGER NOT NULL, subject_id TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_audit_subjects ON audit_subjects (subject_id, seq);
            CREATE TABLE IF NOT EXISTS audit_answers (seq INTEGER NOT NULL, receipt_id TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_audit_answers ON audit_answers (receipt_id, seq);
            CREATE TABLE IF NOT EXISTS audit_checkpoints (
                tree_size INTEGER NOT NULL,
                time TEXT NOT NULL,
                chain_head TEXT NOT NULL,
                merkle_root TEXT NOT NULL,
                key_id TEXT NOT NULL,
                signature TEXT NOT NULL,
                frontier BLOB NOT NULL);
            """))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // Index the data subjects of records written before this version.
        var rows = new List<(long Sequence, string Subject)>();
        await using (var command = Command(connection, transaction, "SELECT seq, payload FROM audit_log WHERE seq NOT IN (SELECT seq FROM audit_subjects) ORDER BY seq"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var record = AuditJson.Deserialize((byte[])reader.GetValue(1));
                rows.AddRange(record.Chunks.SelectMany(static c => c.Subjects).Distinct(StringComparer.Ordinal).Select(s => (reader.GetInt64(0), s)));
            }
        }

        await using (var insert = Command(connection, transaction, "INSERT INTO audit_subjects (seq, subject_id) VALUES ($seq, $a)", "$seq", "$a"))
        {
            foreach (var (sequence, subject) in rows)
            {
                insert.Parameters["$seq"].Value = sequence;
                insert.Parameters["$a"].Value = subject;
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction transaction, string sql, params ReadOnlySpan<string> parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    private static AuditEntry ReadEntry(SqliteDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), AuditJson.Deserialize((byte[])reader.GetValue(2)));

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = $"PRAGMA synchronous = {(_options.SynchronousFull ? "FULL" : "NORMAL")}; PRAGMA busy_timeout = 30000; PRAGMA wal_autocheckpoint = {WalAutoCheckpointPages};";
        await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>The SQLite SQL under the shared <see cref="ChainedAuditWriter"/>. The writer's transactions reuse one
    /// connection and its prepared statements across commits, so a commit of one record does not parse and plan its
    /// statements again; <c>BEGIN IMMEDIATE</c> serializes writers of every process.</summary>
    private sealed class Backend(SqliteAuditLog log) : IAuditBackend
    {
        private Statements? _statements;

        public bool HasDeferredWork => log._pending.Count > 0;

        public async Task<IAuditWriteTransaction> BeginAsync(CancellationToken cancellationToken)
        {
            _statements ??= new Statements(await log.OpenAsync(cancellationToken).ConfigureAwait(false));
            return await WriteTransaction.BeginAsync(_statements, log._pending, log._options.IndexEvery, ownsConnection: false, cancellationToken).ConfigureAwait(false);
        }

        public async Task<IAuditWriteTransaction> BeginRetentionAsync(CancellationToken cancellationToken)
        {
            var statements = new Statements(await log.OpenAsync(cancellationToken).ConfigureAwait(false));
            return await WriteTransaction.BeginAsync(statements, null, 1, ownsConnection: true, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Drops the connection and its statements; the pending rows may describe entries that were not
        /// committed, so they go too and the next catch-up reads the log.</summary>
        public async ValueTask ResetAsync()
        {
            log._pending.Clear();
            await DisposeAsync().ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync()
        {
            if (_statements is { } statements)
            {
                _statements = null;
                await statements.DisposeAsync().ConfigureAwait(false);
                await statements.Connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        public async Task<long> ScanCheckpointedAsync(Action<long, string, byte[]> visit, CancellationToken cancellationToken)
        {
            await using var connection = await log.OpenAsync(cancellationToken).ConfigureAwait(false);
            long covered;
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT coalesce(max(tree_size), 0) FROM audit_checkpoints";
                covered = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L);
            }

            await using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT seq, record_id, payload FROM audit_log WHERE seq <= $covered AND leaf_hash IS NULL ORDER BY seq";
                command.Parameters.AddWithValue("$covered", covered);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    visit(reader.GetInt64(0), reader.GetString(1), (byte[])reader.GetValue(2));
                }
            }

            return covered;
        }
    }

    /// <summary>One write transaction: rows, checkpoints, index rows behind the appends, retention's tombstones.</summary>
    private sealed class WriteTransaction(Statements statements, SqliteTransaction transaction, AuditStoredHead head, PendingIndex? pending, int indexEvery, bool ownsConnection) : IAuditWriteTransaction
    {
        private bool _indexed;
        private bool _ended;

        public AuditStoredHead Head { get; } = head;

        /// <summary>Begins the transaction (<c>BEGIN IMMEDIATE</c>: the write lock first) and reads the head and the last checkpoint.</summary>
        /// <param name="statements">The connection's statements.</param>
        /// <param name="pending">The writer's rows not indexed yet; <see langword="null"/> outside the writer (the rows then come from the log).</param>
        /// <param name="indexEvery">How many pending entries are indexed in one commit.</param>
        /// <param name="ownsConnection">Whether disposing the transaction also closes the connection.</param>
        /// <param name="cancellationToken">The cancellation token.</param>
        public static async Task<WriteTransaction> BeginAsync(Statements statements, PendingIndex? pending, int indexEvery, bool ownsConnection, CancellationToken cancellationToken)
        {
            SqliteTransaction? transaction = null;
            var stored = AuditStoredHead.Empty;
            try
            {
                transaction = (SqliteTransaction)await statements.Connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (var reader = await statements.Get(transaction, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        stored = stored with { Head = reader.GetInt64(0), HeadHash = reader.GetString(1) };
                    }
                }

                await using (var reader = await statements.Get(transaction, "SELECT tree_size, time, frontier FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1").ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        stored = stored with
                        {
                            CheckpointSize = reader.GetInt64(0),
                            CheckpointTime = DateTimeOffset.Parse(reader.GetString(1), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                            Frontier = (byte[])reader.GetValue(2),
                        };
                    }
                }
            }
            catch (Exception)
            {
                if (transaction is not null)
                {
                    await transaction.DisposeAsync().ConfigureAwait(false);
                }

                if (ownsConnection)
                {
                    await statements.DisposeAsync().ConfigureAwait(false);
                    await statements.Connection.DisposeAsync().ConfigureAwait(false);
                }

                throw;
            }

            return new WriteTransaction(statements, transaction, stored, pending, indexEvery, ownsConnection);
        }

        public async Task ReadLeavesAsync(MerkleFrontier frontier)
        {
            var command = statements.Get(transaction, "SELECT payload, leaf_hash FROM audit_log WHERE seq > $seq ORDER BY seq", "$seq");
            command.Parameters["$seq"].Value = frontier.Size;
            await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                frontier.Append(reader.IsDBNull(1) ? AuditMerkle.LeafHash((byte[])reader.GetValue(0)) : Convert.FromHexString(reader.GetString(1)));
            }
        }

        public async ValueTask AddEntryAsync(AuditChainedRow row)
        {
            var insert = statements.Get(transaction, "INSERT INTO audit_log (seq, record_id, time, subject_id, payload, hash) VALUES ($seq, $id, $time, $subject, $payload, $hash)", "$seq", "$id", "$time", "$subject", "$payload", "$hash");
            insert.Parameters["$seq"].Value = row.Sequence;
            insert.Parameters["$id"].Value = row.Record.RecordId;
            insert.Parameters["$time"].Value = row.Record.Time.ToString("O", CultureInfo.InvariantCulture);
            insert.Parameters["$subject"].Value = row.Record.SubjectId;
            insert.Parameters["$payload"].Value = row.Payload;
            insert.Parameters["$hash"].Value = row.Hash;
            await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
            pending?.Add(row.Sequence, row.Record);
        }

        /// <summary>Index rows are written every <see cref="SqliteAuditLogOptions.IndexEvery"/> entries (and when a reader
        /// asks, or the log is quiet), not in every commit: a retrieval's rows touch as many index pages as it has
        /// documents, which dominated a one-record commit.</summary>
        public async Task IndexAsync(long head, bool complete)
        {
            if (complete || (pending is not null && pending.Count >= indexEvery))
            {
                await CatchUpIndexesAsync(statements, transaction, head, pending).ConfigureAwait(false);
                _indexed = true;
            }
        }

        public async Task AddCheckpointAsync(AuditCheckpoint checkpoint, MerkleFrontier frontier)
        {
            var command = statements.Get(transaction, "INSERT INTO audit_checkpoints (tree_size, time, chain_head, merkle_root, key_id, signature, frontier) VALUES ($seq, $a, $b, $c, $d, $e, $f)", "$seq", "$a", "$b", "$c", "$d", "$e", "$f");
            command.Parameters["$seq"].Value = checkpoint.TreeSize;
            command.Parameters["$a"].Value = checkpoint.Time.ToString("O", CultureInfo.InvariantCulture);
            command.Parameters["$b"].Value = checkpoint.ChainHead;
            command.Parameters["$c"].Value = checkpoint.MerkleRoot;
            command.Parameters["$d"].Value = checkpoint.KeyId;
            command.Parameters["$e"].Value = checkpoint.Signature;
            command.Parameters["$f"].Value = frontier.Save();
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        public async Task<Dictionary<long, (string RecordId, byte[] Payload)>> ReadLiveAsync(IReadOnlyList<long> sequences, long covered, CancellationToken cancellationToken)
        {
            var live = new Dictionary<long, (string RecordId, byte[] Payload)>(sequences.Count);
            var read = statements.Get(transaction, "SELECT record_id, payload FROM audit_log WHERE seq = $seq AND seq <= $covered AND leaf_hash IS NULL", "$seq", "$covered");
            read.Parameters["$covered"].Value = covered;
            foreach (var sequence in sequences)
            {
                read.Parameters["$seq"].Value = sequence;
                await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    live[sequence] = (reader.GetString(0), (byte[])reader.GetValue(1));
                }
            }

            return live;
        }

        /// <summary>The row keeps its time (activity counts stay where they were); the principal column is cleared to the runner.</summary>
        public async Task ExpireAsync(IReadOnlyList<AuditTombstoneRow> tombstones, string subjectId, CancellationToken cancellationToken)
        {
            var update = statements.Get(transaction, "UPDATE audit_log SET payload = $payload, leaf_hash = $leaf, subject_id = $subject WHERE seq = $seq", "$seq", "$payload", "$leaf", "$subject");
            update.Parameters["$subject"].Value = subjectId;
            foreach (var tombstone in tombstones)
            {
                update.Parameters["$seq"].Value = tombstone.Sequence;
                update.Parameters["$payload"].Value = tombstone.Payload;
                update.Parameters["$leaf"].Value = tombstone.LeafHash;
                await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var delete = statements.Get(transaction, """
                DELETE FROM audit_documents WHERE seq IN (SELECT value FROM json_each($seqs));
                DELETE FROM audit_subjects WHERE seq IN (SELECT value FROM json_each($seqs));
                DELETE FROM audit_answers WHERE seq IN (SELECT value FROM json_each($seqs));
                """, "$seqs");
            delete.Parameters["$seqs"].Value = "[" + string.Join(',', tombstones.Select(static e => e.Sequence.ToString(CultureInfo.InvariantCulture))) + "]";
            await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        public async Task CommitAsync()
        {
            await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            _ended = true;
            if (_indexed)
            {
                pending?.Clear();
            }
        }

        public async Task RollbackAsync()
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            try
            {
                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is SqliteException or InvalidOperationException)
            {
                // Already rolled back by SQLite, or the connection is broken: nothing to roll back.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            if (ownsConnection)
            {
                await statements.DisposeAsync().ConfigureAwait(false);
                await statements.Connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The prepared statements of one connection, reused across transactions; the connection is the caller's.</summary>
    private sealed class Statements(SqliteConnection connection) : IAsyncDisposable
    {
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public SqliteConnection Connection { get; } = connection;

        /// <summary>Gets the command for the SQL text in the transaction; parameters keep their names and are rebound by the caller.</summary>
        public SqliteCommand Get(SqliteTransaction transaction, string sql, params ReadOnlySpan<string> parameters)
        {
            if (!_commands.TryGetValue(sql, out var command))
            {
                command = Command(Connection, transaction, sql, parameters);
                _commands[sql] = command;
            }

            command.Transaction = transaction;
            return command;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var command in _commands.Values)
            {
                await command.DisposeAsync().ConfigureAwait(false);
            }

            _commands.Clear();
        }
    }

    /// <summary>The document, subject and answer index rows of a run of consecutive entries.</summary>
    private sealed class PendingIndex : IDisposable
    {
        public IndexRows Documents { get; } = new();

        public IndexRows Subjects { get; } = new();

        public IndexRows Answers { get; } = new();

        /// <summary>Gets how many entries the rows describe.</summary>
        public int Count { get; private set; }

        public long From { get; private set; }

        public long Through { get; private set; }

        public void Add(long sequence, AuditRecord record)
        {
            if (Count > 0 && sequence != Through + 1)
            {
                // Another process (or a retention run) appended in between: the rows no longer cover one run of entries,
                // so the catch-up reads the log instead.
                Clear();
            }

            var rows = AuditIndexRows.Of(record);
            foreach (var (document, chunk) in rows.Documents)
            {
                Documents.Row(sequence, document, chunk);
            }

            foreach (var subject in rows.Subjects)
            {
                Subjects.Row(sequence, subject);
            }

            foreach (var receipt in rows.Receipts)
            {
                Answers.Row(sequence, receipt);
            }

            From = Count == 0 ? sequence : From;
            Through = sequence;
            Count++;
        }

        public void Clear()
        {
            Documents.Reset();
            Subjects.Reset();
            Answers.Reset();
            Count = 0;
        }

        public void Dispose()
        {
            Documents.Dispose();
            Subjects.Dispose();
            Answers.Dispose();
        }
    }

    /// <summary>Index rows of one table collected as a JSON array of <c>[seq, text...]</c> arrays, written in one statement.</summary>
    private sealed class IndexRows : IDisposable
    {
        /// <summary>The most UTF-8 bytes of rows sent in one statement: each statement's JSON text stays well below the
        /// large-object heap threshold (85,000 bytes), so indexing hundreds of entries at once allocates no large objects.</summary>
        private const int MaxStatementBytes = 16 * 1024;

        private readonly ArrayBufferWriter<byte> _buffer = new();
        private readonly List<int> _ends = [];
        private readonly Utf8JsonWriter _writer;

        public IndexRows() => _writer = new Utf8JsonWriter(_buffer);

        /// <summary>Adds one row, written as a JSON array <c>[seq, text...]</c> after the others.</summary>
        public void Row(long sequence, params ReadOnlySpan<string> values)
        {
            if (_ends.Count > 0)
            {
                _buffer.GetSpan(1)[0] = (byte)',';
                _buffer.Advance(1);
            }

            _writer.Reset(_buffer);
            _writer.WriteStartArray();
            _writer.WriteNumberValue(sequence);
            foreach (var value in values)
            {
                _writer.WriteStringValue(value);
            }

            _writer.WriteEndArray();
            _writer.Flush();
            _ends.Add(_buffer.WrittenCount);
        }

        /// <summary>Writes the rows with as few statements as the size limit allows, then drops them.</summary>
        public async Task FlushAsync(SqliteCommand insert)
        {
            var start = 0;
            var first = 0;
            for (var row = 0; row < _ends.Count; row++)
            {
                var last = row == _ends.Count - 1;
                if (!last && _ends[row + 1] - start <= MaxStatementBytes)
                {
                    continue;
                }

                // Rows after the first carry a leading comma; a statement's text is "[" + its rows + "]".
                var rows = _buffer.WrittenSpan[(first == 0 ? 0 : _ends[first - 1] + 1).._ends[row]];
                insert.Parameters["$rows"].Value = Bracketed(rows);
                var written = await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
                if (written != row - first + 1)
                {
                    throw new InvalidOperationException($"Wrote {written} index rows instead of {row - first + 1}.");
                }

                start = _ends[row];
                first = row + 1;
            }

            Reset();
        }

        private static string Bracketed(ReadOnlySpan<byte> rows)
        {
            var length = Encoding.UTF8.GetCharCount(rows) + 2;
            var chars = ArrayPool<char>.Shared.Rent(length);
            try
            {
                chars[0] = '[';
                Encoding.UTF8.GetChars(rows, chars.AsSpan(1));
                chars[length - 1] = ']';
                return new string(chars, 0, length);
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
        }

        /// <summary>Drops the collected rows.</summary>
        public void Reset()
        {
            _buffer.ResetWrittenCount();
            _ends.Clear();
        }

        public void Dispose() => _writer.Dispose();
    }
}

/// <summary>Settings of <see cref="SqliteAuditLog"/>.</summary>
public sealed class SqliteAuditLogOptions
{
    /// <summary>Gets or sets the most records committed in one transaction. The default is 512; 1 turns group commit off.</summary>
    public int MaxBatchSize { get; set; } = 512;

    /// <summary>Gets or sets how many entries may follow the last checkpoint before the next is written. The default is 1,000.</summary>
    public int CheckpointEvery { get; set; } = 1000;

    /// <summary>Gets or sets the longest time unanchored entries wait for a checkpoint. The default is 10 seconds.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets whether commits use <c>synchronous=FULL</c> (fsync the WAL on every commit). The default is
    /// <see langword="true"/>; <c>NORMAL</c> can lose the last commits on power loss (not on a process crash), which
    /// would break the rule that no receipt leaves before its record is durable.</summary>
    public bool SynchronousFull { get; set; } = true;

    /// <summary>Gets or sets how many entries may wait for their document, subject and answer index rows before a commit
    /// writes them. The default is 1,024 (that commit is slower: rarer is better for the tail); 1 indexes every entry in its
    /// own commit. Readers of the indexes (and
    /// <c>audit verify</c>) have every committed entry indexed first, so they never miss one.</summary>
    public int IndexEvery { get; set; } = 1024;

    /// <summary>Gets or sets how long the log must be quiet before waiting entries are indexed. The default is 50 ms.</summary>
    public TimeSpan IndexDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchSize, 1, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(CheckpointEvery, 1, nameof(CheckpointEvery));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CheckpointInterval, TimeSpan.Zero, nameof(CheckpointInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(IndexEvery, 1, nameof(IndexEvery));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IndexDelay, TimeSpan.Zero, nameof(IndexDelay));
    }
}
