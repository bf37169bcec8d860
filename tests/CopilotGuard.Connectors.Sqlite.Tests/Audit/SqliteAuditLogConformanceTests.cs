using CopilotGuard.Audit;
using CopilotGuard.Testing;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>Runs the shared audit log conformance suite against the embedded SQLite log, one file per test.</summary>
public sealed class SqliteAuditLogConformanceTests : AuditLogConformanceTests
{
    private readonly TempFolder _folder = new();

    private string Path => _folder.File("audit.db");

    protected override IAuditStore CreateLog(AuditLogSettings settings) => new SqliteAuditLog(
        Path,
        new SqliteAuditLogOptions { CheckpointEvery = settings.CheckpointEvery, CheckpointInterval = settings.CheckpointInterval, MaxBatchSize = settings.MaxBatchSize },
        settings.Signer);

    protected override long? CommitsOf(IAuditStore log) => ((SqliteAuditLog)log).Commits;

    protected override Task WriteStoredEntryAsync(StoredAuditEntry entry) => ExecuteAsync(
        """
        INSERT INTO audit_log (seq, record_id, time, subject_id, payload, hash) VALUES ($seq, $id, '2026-01-01T00:00:00Z', 'tampered', $payload, $hash)
        ON CONFLICT (seq) DO UPDATE SET record_id = excluded.record_id, payload = excluded.payload, hash = excluded.hash
        """,
        ("$seq", entry.Sequence),
        ("$id", entry.RecordId),
        ("$payload", entry.Payload.ToArray()),
        ("$hash", entry.Hash));

    protected override Task DeleteStoredEntriesAsync(long fromSequence, long toSequence) =>
        ExecuteAsync("DELETE FROM audit_log WHERE seq BETWEEN $from AND $to", ("$from", fromSequence), ("$to", toSequence));

    protected override Task WriteCheckpointSignatureAsync(long treeSize, string signature) =>
        ExecuteAsync("UPDATE audit_checkpoints SET signature = $signature WHERE tree_size = $size", ("$signature", signature), ("$size", treeSize));

    protected override Task DeleteSubjectIndexRowsAsync(long sequence) =>
        ExecuteAsync("DELETE FROM audit_subjects WHERE seq = $seq", ("$seq", sequence));

    protected override async Task FailCommitsContainingAsync(string recordId)
    {
        await ExecuteAsync("""
            CREATE TABLE failing_ids (id TEXT PRIMARY KEY);
            CREATE TRIGGER fail_insert BEFORE INSERT ON audit_log
            WHEN EXISTS (SELECT 1 FROM failing_ids WHERE id = NEW.record_id)
            BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END;
            """);
        await ExecuteAsync("INSERT INTO failing_ids (id) VALUES ($id)", ("$id", recordId));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _folder.Dispose();
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false, DefaultTimeout = 30 }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
