using CopilotGuard.Audit;
using CopilotGuard.Testing;
using Npgsql;
using NpgsqlTypes;

namespace CopilotGuard.Connectors.PostgreSql.Tests.Audit;

/// <summary>Runs the shared audit log conformance suite against a real PostgreSQL, one schema per test.</summary>
/// <remarks>The inherited tests cannot be skipped from here (xunit 2 has no dynamic skip): without PostgreSQL
/// installed they fail with <see cref="PostgresServer.SkipReason"/> as the message.</remarks>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlAuditLogConformanceTests(PostgresServer server) : AuditLogConformanceTests
{
    private readonly string _schema = server.NewSchema();

    protected override IAuditStore CreateLog(AuditLogSettings settings) => new PostgreSqlAuditLog(
        server.DataSource,
        new PostgreSqlAuditLogOptions { Schema = _schema, CheckpointEvery = settings.CheckpointEvery, CheckpointInterval = settings.CheckpointInterval, MaxBatchSize = settings.MaxBatchSize },
        settings.Signer);

    protected override long? CommitsOf(IAuditStore log) => ((PostgreSqlAuditLog)log).Commits;

    protected override Task WriteStoredEntryAsync(StoredAuditEntry entry) => ExecuteAsync(
        $"""
        INSERT INTO {_schema}.audit_log (seq, record_id, time, subject_id, payload, hash) VALUES (@seq, @id, now(), 'tampered', @payload, @hash)
        ON CONFLICT (seq) DO UPDATE SET record_id = EXCLUDED.record_id, payload = EXCLUDED.payload, hash = EXCLUDED.hash
        """,
        new NpgsqlParameter<long>("seq", NpgsqlDbType.Bigint) { TypedValue = entry.Sequence },
        new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = entry.RecordId },
        new NpgsqlParameter<byte[]>("payload", NpgsqlDbType.Bytea) { TypedValue = entry.Payload.ToArray() },
        new NpgsqlParameter<string>("hash", NpgsqlDbType.Text) { TypedValue = entry.Hash });

    protected override Task DeleteStoredEntriesAsync(long fromSequence, long toSequence) => ExecuteAsync(
        $"DELETE FROM {_schema}.audit_log WHERE seq BETWEEN @from AND @to",
        new NpgsqlParameter<long>("from", NpgsqlDbType.Bigint) { TypedValue = fromSequence },
        new NpgsqlParameter<long>("to", NpgsqlDbType.Bigint) { TypedValue = toSequence });

    protected override Task WriteCheckpointSignatureAsync(long treeSize, string signature) => ExecuteAsync(
        $"UPDATE {_schema}.audit_checkpoints SET signature = @signature WHERE tree_size = @size",
        new NpgsqlParameter<string>("signature", NpgsqlDbType.Text) { TypedValue = signature },
        new NpgsqlParameter<long>("size", NpgsqlDbType.Bigint) { TypedValue = treeSize });

    protected override Task DeleteSubjectIndexRowsAsync(long sequence) => ExecuteAsync(
        $"DELETE FROM {_schema}.audit_subjects WHERE seq = @seq",
        new NpgsqlParameter<long>("seq", NpgsqlDbType.Bigint) { TypedValue = sequence });

    protected override async Task FailCommitsContainingAsync(string recordId)
    {
        await ExecuteAsync($"""
            CREATE TABLE {_schema}.failing_ids (id text PRIMARY KEY);
            CREATE FUNCTION {_schema}.fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM {_schema}.failing_ids WHERE id = NEW.record_id) THEN
                    RAISE EXCEPTION 'simulated disk failure';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_insert BEFORE INSERT ON {_schema}.audit_log FOR EACH ROW EXECUTE FUNCTION {_schema}.fail_insert();
            """);
        await ExecuteAsync($"INSERT INTO {_schema}.failing_ids (id) VALUES (@id)", new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = recordId });
    }

    private async Task ExecuteAsync(string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = server.DataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        await command.ExecuteNonQueryAsync();
    }
}
