using CopilotGuard.Audit;
using CopilotGuard.Testing;
using Npgsql;
using NpgsqlTypes;

namespace CopilotGuard.Connectors.PostgreSql.Tests.Audit;

/// <summary>Runs the retention suite against a real PostgreSQL, one schema per test, plus what is particular to
/// PostgreSQL: several processes running retention at once, and ids PostgreSQL text cannot hold.</summary>
/// <remarks>Without PostgreSQL installed the inherited tests fail with <see cref="PostgresServer.SkipReason"/> as the
/// message (xunit 2 has no dynamic skip), as the other PostgreSQL audit suites do.</remarks>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlAuditRetentionTests(PostgresServer server) : AuditRetentionConformanceTests
{
    private readonly string _schema = server.NewSchema();

    [PostgresFact]
    public async Task ApplyRetentionAsync_TwoProcessesAtOnce_ExpireEveryEntryExactlyOnce()
    {
        var other = (IAuditRetention)await OpenAsync(Signer);

        var reports = await Task.WhenAll(
            Task.Run(() => ((IAuditRetention)Log).ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:one"), CancellationToken.None)),
            Task.Run(() => other.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:two"), CancellationToken.None)));

        // Each tombstone is listed by exactly one run (the verifier checks it); a run that found nothing left wrote no
        // record. A run whose snapshot follows the other's commit also sees late-old covered by that run's checkpoint.
        var expected = Covered.Count(static c => c.Expires);
        var listed = reports.Sum(static r => r.Record?.Record.Retention!.Expired ?? 0);
        Assert.InRange(listed, expected, expected + 1);
        Assert.Contains(reports, r => r.Record is not null);
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(listed, verification.Expired);
        Assert.Equal(Covered.Count + 1 + reports.Count(static r => r.Record is not null), verification.Records);
    }

    [PostgresFact]
    public async Task ApplyRetentionAsync_RunnerWithNul_IsRefusedBeforeAnythingIsWritten()
    {
        var before = await SnapshotAsync();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => ((IAuditRetention)Log).ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:\0x"), CancellationToken.None));

        Assert.Contains("U+0000", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await SnapshotAsync());
    }

    [PostgresFact]
    public async Task ApplyRetentionAsync_BeforeInitialize_Throws()
    {
        var log = (IAuditRetention)CreateLog(Signer, Clock);
        try
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));
        }
        finally
        {
            await ((IAuditStore)log).DisposeAsync();
        }
    }

    /// <inheritdoc />
    protected override IAuditStore CreateLog(IAuditSigner? signer, TimeProvider time) => new PostgreSqlAuditLog(
        server.DataSource,
        new PostgreSqlAuditLogOptions { Schema = _schema, CheckpointEvery = 1000, CheckpointInterval = TimeSpan.FromHours(1) },
        signer,
        time);

    /// <inheritdoc />
    protected override async Task<string> SnapshotAsync()
    {
        var lines = new List<string>();
        foreach (var sql in new[]
        {
            $"SELECT seq, record_id, time, subject_id, encode(payload, 'hex'), hash, leaf_hash FROM {_schema}.audit_log ORDER BY seq",
            $"SELECT seq, document_id, chunk_id FROM {_schema}.audit_documents ORDER BY seq, chunk_id",
            $"SELECT seq, subject_id FROM {_schema}.audit_subjects ORDER BY seq, subject_id",
            $"SELECT seq, receipt_id FROM {_schema}.audit_answers ORDER BY seq, receipt_id",
            $"SELECT tree_size, chain_head, merkle_root FROM {_schema}.audit_checkpoints ORDER BY tree_size",
        })
        {
            await using var command = server.DataSource.CreateCommand(sql);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                lines.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            }
        }

        return string.Join('\n', lines);
    }

    /// <inheritdoc />
    protected override Task FailRetentionRecordInsertsAsync() => ExecuteAsync($"""
        CREATE FUNCTION {_schema}.fail_retention() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'simulated failure after tombstoning';
        END $$;
        CREATE TRIGGER fail_retention BEFORE INSERT ON {_schema}.audit_log FOR EACH ROW WHEN (NEW.record_id LIKE 'ret\_%') EXECUTE FUNCTION {_schema}.fail_retention();
        """);

    /// <inheritdoc />
    protected override Task FailCheckpointInsertsAfterARetentionRecordAsync() => ExecuteAsync($"""
        CREATE FUNCTION {_schema}.fail_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM {_schema}.audit_log WHERE record_id LIKE 'ret\_%') THEN
                RAISE EXCEPTION 'simulated failure before the checkpoint';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_checkpoint BEFORE INSERT ON {_schema}.audit_checkpoints FOR EACH ROW EXECUTE FUNCTION {_schema}.fail_checkpoint();
        """);

    /// <inheritdoc />
    protected override Task StopFailingCheckpointInsertsAsync() =>
        ExecuteAsync($"DROP TRIGGER fail_checkpoint ON {_schema}.audit_checkpoints");

    /// <inheritdoc />
    protected override Task RevertToSchemaBeforeRetentionAsync() =>
        ExecuteAsync($"ALTER TABLE {_schema}.audit_log DROP COLUMN leaf_hash");

    /// <inheritdoc />
    protected override Task UpdateStoredEntryAsync(long sequence, string recordId, byte[] payload, string? leafHash) => ExecuteAsync(
        $"""
        UPDATE {_schema}.audit_log SET record_id = @id, payload = @payload, leaf_hash = @leaf WHERE seq = @seq;
        DELETE FROM {_schema}.audit_documents WHERE seq = @seq AND @leaf IS NOT NULL;
        DELETE FROM {_schema}.audit_subjects WHERE seq = @seq AND @leaf IS NOT NULL;
        DELETE FROM {_schema}.audit_answers WHERE seq = @seq AND @leaf IS NOT NULL;
        """,
        new NpgsqlParameter<long>("seq", NpgsqlDbType.Bigint) { TypedValue = sequence },
        new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = recordId },
        new NpgsqlParameter<byte[]>("payload", NpgsqlDbType.Bytea) { TypedValue = payload },
        new NpgsqlParameter("leaf", NpgsqlDbType.Text) { Value = (object?)leafHash ?? DBNull.Value });

    /// <inheritdoc />
    protected override Task InsertStoredEntryAsync(StoredAuditEntry entry) => ExecuteAsync(
        $"INSERT INTO {_schema}.audit_log (seq, record_id, time, subject_id, payload, hash) VALUES (@seq, @id, now(), 'attacker', @payload, @hash)",
        new NpgsqlParameter<long>("seq", NpgsqlDbType.Bigint) { TypedValue = entry.Sequence },
        new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = entry.RecordId },
        new NpgsqlParameter<byte[]>("payload", NpgsqlDbType.Bytea) { TypedValue = entry.Payload.ToArray() },
        new NpgsqlParameter<string>("hash", NpgsqlDbType.Text) { TypedValue = entry.Hash });

    private async Task ExecuteAsync(string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = server.DataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        await command.ExecuteNonQueryAsync();
    }
}
