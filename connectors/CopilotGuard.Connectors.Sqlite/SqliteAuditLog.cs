using CopilotGuard.Audit;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite;

/// <summary>An append-only, hash-chained audit log in a SQLite file (WAL, synchronous=FULL).</summary>
/// <remarks>Appends are serialized in process; each returns only after its transaction is committed durably.</remarks>
public sealed class SqliteAuditLog : IAuditLog, IDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _appendLock = new(1, 1);
    private (long Sequence, string Hash)? _head;

    /// <summary>Creates a log over a SQLite file.</summary>
    public SqliteAuditLog(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
    }

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
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

    /// <inheritdoc />
    public async Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var payload = AuditJson.Serialize(record);
        await _appendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            var (sequence, previous) = _head ??= await ReadHeadAsync(connection, cancellationToken).ConfigureAwait(false);
            var next = sequence + 1;
            var hash = AuditChain.Link(previous, next, payload);
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var insert = connection.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO audit_log (seq, record_id, time, subject_id, payload, hash) VALUES ($seq, $id, $time, $subject, $payload, $hash)";
                insert.Parameters.AddWithValue("$seq", next);
                insert.Parameters.AddWithValue("$id", record.RecordId);
                insert.Parameters.AddWithValue("$time", record.Time.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                insert.Parameters.AddWithValue("$subject", record.SubjectId);
                insert.Parameters.AddWithValue("$payload", payload);
                insert.Parameters.AddWithValue("$hash", hash);
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using (var documents = connection.CreateCommand())
            {
                documents.Transaction = transaction;
                documents.CommandText = "INSERT INTO audit_documents (seq, document_id, chunk_id) VALUES ($seq, $document, $chunk)";
                var pSeq = documents.Parameters.Add("$seq", SqliteType.Integer);
                var pDocument = documents.Parameters.Add("$document", SqliteType.Text);
                var pChunk = documents.Parameters.Add("$chunk", SqliteType.Text);
                foreach (var chunk in record.Chunks)
                {
                    pSeq.Value = next;
                    pDocument.Value = chunk.DocumentId;
                    pChunk.Value = chunk.ChunkId;
                    await documents.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            try
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _head = null;
                throw;
            }

            _head = (next, hash);
            return new AuditEntry(next, hash, record);
        }
        catch
        {
            _head = null;
            throw;
        }
        finally
        {
            _appendLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, hash, payload FROM audit_log WHERE record_id = $id";
        command.Parameters.AddWithValue("$id", recordId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new AuditEntry(reader.GetInt64(0), reader.GetString(1), AuditJson.Deserialize((byte[])reader.GetValue(2)))
            : null;
    }

    /// <summary>Lists the entries that returned a chunk of a document, oldest first.</summary>
    public async Task<IReadOnlyList<AuditEntry>> GetDocumentAccessesAsync(string documentId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT l.seq, l.hash, l.payload FROM audit_log l
            WHERE l.seq IN (SELECT seq FROM audit_documents WHERE document_id = $document)
            ORDER BY l.seq
            """;
        command.Parameters.AddWithValue("$document", documentId);
        var entries = new List<AuditEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new AuditEntry(reader.GetInt64(0), reader.GetString(1), AuditJson.Deserialize((byte[])reader.GetValue(2))));
        }

        return entries;
    }

    /// <inheritdoc />
    public async Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, record_id, payload, hash FROM audit_log ORDER BY seq";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var previous = AuditChain.Genesis;
        long expected = 0;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            expected++;
            var sequence = reader.GetInt64(0);
            if (sequence != expected)
            {
                return new AuditVerification(false, expected - 1, previous, expected, $"entry {expected} is missing (next stored entry is {sequence})");
            }

            var payload = (byte[])reader.GetValue(2);
            var hash = AuditChain.Link(previous, sequence, payload);
            if (!string.Equals(hash, reader.GetString(3), StringComparison.Ordinal))
            {
                return new AuditVerification(false, expected - 1, previous, sequence, $"entry {sequence} does not match its chain hash (edited, reordered or inserted)");
            }

            AuditRecord record;
            try
            {
                record = AuditJson.Deserialize(payload);
            }
            catch (System.Text.Json.JsonException)
            {
                return new AuditVerification(false, expected - 1, previous, sequence, $"entry {sequence} is not a readable record");
            }

            if (record.RecordId != reader.GetString(1))
            {
                return new AuditVerification(false, expected - 1, previous, sequence, $"entry {sequence}: the indexed record id differs from the hashed record");
            }

            previous = hash;
        }

        return new AuditVerification(true, expected, expected == 0 ? string.Empty : previous);
    }

    /// <inheritdoc />
    public void Dispose() => _appendLock.Dispose();

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = FULL;";
        await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    private static async Task<(long, string)> ReadHeadAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? (reader.GetInt64(0), reader.GetString(1))
            : (0L, AuditChain.Genesis);
    }
}
