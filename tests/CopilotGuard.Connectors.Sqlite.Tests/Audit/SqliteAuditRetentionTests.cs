using CopilotGuard.Audit;
using CopilotGuard.Testing;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>Runs the shared retention suite (expiry, verification, crash safety, migration, tampering) against the
/// embedded SQLite audit log, one file per test.</summary>
public sealed class SqliteAuditRetentionTests : AuditRetentionConformanceTests
{
    private readonly TempFolder _folder = new();

    private string Path => _folder.File("audit.db");

    /// <inheritdoc />
    protected override IAuditStore CreateLog(IAuditSigner? signer, TimeProvider time) => new SqliteAuditLog(
        Path,
        new SqliteAuditLogOptions { CheckpointEvery = 1000, CheckpointInterval = TimeSpan.FromHours(1) },
        signer,
        time);

    /// <inheritdoc />
    protected override async Task<string> SnapshotAsync()
    {
        var lines = new List<string>();
        await using var connection = await OpenAsync();
        foreach (var sql in new[]
        {
            "SELECT seq, record_id, time, subject_id, hex(payload), hash, leaf_hash FROM audit_log ORDER BY seq",
            "SELECT seq, document_id, chunk_id FROM audit_documents ORDER BY seq, chunk_id",
            "SELECT seq, subject_id FROM audit_subjects ORDER BY seq, subject_id",
            "SELECT seq, receipt_id FROM audit_answers ORDER BY seq, receipt_id",
            "SELECT tree_size, chain_head, merkle_root FROM audit_checkpoints ORDER BY tree_size",
        })
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                lines.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            }
        }

        return string.Join('\n', lines);
    }

    /// <inheritdoc />
    protected override Task FailRetentionRecordInsertsAsync() =>
        ExecuteAsync("CREATE TRIGGER fail_retention BEFORE INSERT ON audit_log WHEN NEW.record_id LIKE 'ret_%' BEGIN SELECT RAISE(ABORT, 'simulated failure after tombstoning'); END");

    /// <inheritdoc />
    protected override Task FailCheckpointInsertsAfterARetentionRecordAsync() =>
        ExecuteAsync("CREATE TRIGGER fail_checkpoint BEFORE INSERT ON audit_checkpoints WHEN EXISTS (SELECT 1 FROM audit_log WHERE record_id LIKE 'ret_%') BEGIN SELECT RAISE(ABORT, 'simulated failure before the checkpoint'); END");

    /// <inheritdoc />
    protected override Task StopFailingCheckpointInsertsAsync() => ExecuteAsync("DROP TRIGGER fail_checkpoint");

    /// <inheritdoc />
    protected override Task RevertToSchemaBeforeRetentionAsync() =>
        ExecuteAsync("ALTER TABLE audit_log DROP COLUMN leaf_hash; PRAGMA user_version = 2;");

    /// <inheritdoc />
    protected override Task UpdateStoredEntryAsync(long sequence, string recordId, byte[] payload, string? leafHash) => ExecuteAsync(
        """
        UPDATE audit_log SET record_id = $id, payload = $payload, leaf_hash = $leaf WHERE seq = $seq;
        DELETE FROM audit_documents WHERE seq = $seq AND $leaf IS NOT NULL;
        DELETE FROM audit_subjects WHERE seq = $seq AND $leaf IS NOT NULL;
        DELETE FROM audit_answers WHERE seq = $seq AND $leaf IS NOT NULL;
        """,
        ("$seq", sequence),
        ("$id", recordId),
        ("$payload", payload),
        ("$leaf", (object?)leafHash ?? DBNull.Value));

    /// <inheritdoc />
    protected override Task InsertStoredEntryAsync(StoredAuditEntry entry) => ExecuteAsync(
        "INSERT INTO audit_log (seq, record_id, time, subject_id, payload, hash) VALUES ($seq, $id, '2026-01-01T00:00:00.0000000+00:00', 'attacker', $payload, $hash)",
        ("$seq", entry.Sequence),
        ("$id", entry.RecordId),
        ("$payload", entry.Payload.ToArray()),
        ("$hash", entry.Hash));

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _folder.Dispose();
    }

    private async Task<SqliteConnection> OpenAsync()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false, DefaultTimeout = 30 }.ToString());
        await connection.OpenAsync();
        return connection;
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
