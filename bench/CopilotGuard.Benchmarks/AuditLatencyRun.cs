using System.Diagnostics;
using System.Globalization;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Benchmarks;

/// <summary>Where a one-record durable append's time goes, one caller: the audit log's append, a bare SQLite insert of
/// the same payload in its own transaction (WAL, synchronous=FULL), and a raw write + fdatasync of 4 KB on the same disk.</summary>
internal static class AuditLatencyRun
{
    public static async Task RunAsync(int count)
    {
        var folder = Directory.CreateTempSubdirectory("copilotguard-audit-latency-").FullName;
        try
        {
            Console.WriteLine($"One caller, {count} sequential operations each, percentiles in ms");
            Console.WriteLine("| operation | p50 | p90 | p99 | p99.9 |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            using (var signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(folder, "audit-checkpoint.pem")))
            {
                await using var log = new SqliteAuditLog(Path.Combine(folder, "audit.db"), new SqliteAuditLogOptions(), signer);
                await log.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
                var id = 0;
                Print("SqliteAuditLog.AppendAsync (chain, Merkle, group-commit writer)", await TimeAsync(count, () => log.AppendAsync(AuditBenchmarks.Record(Interlocked.Increment(ref id)), CancellationToken.None)).ConfigureAwait(false));
            }

            var payload = AuditJson.Serialize(AuditBenchmarks.Record(1));
            foreach (var (name, pragmas) in new[]
            {
                ("bare SQLite: BEGIN IMMEDIATE, INSERT, COMMIT (same payload; SQLite's automatic WAL checkpoint)", string.Empty),
                ("bare SQLite, WAL never checkpointed (the file grows with every commit)", "PRAGMA wal_autocheckpoint = 0;"),
            })
            {
                await using var connection = new SqliteConnection($"Data Source={Path.Combine(folder, $"bare-{pragmas.Length}.db")};Pooling=False");
                await connection.OpenAsync().ConfigureAwait(false);
                await using (var setup = connection.CreateCommand())
                {
                    setup.CommandText = $"PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; {pragmas} CREATE TABLE t (seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL UNIQUE, payload BLOB NOT NULL);";
                    await setup.ExecuteNonQueryAsync().ConfigureAwait(false);
                }

                await using var insert = connection.CreateCommand();
                insert.CommandText = "INSERT INTO t (record_id, payload) VALUES ($id, $payload)";
                insert.Parameters.Add("$id", SqliteType.Text);
                insert.Parameters.Add("$payload", SqliteType.Blob).Value = payload;
                var n = 0;
                Print(name, await TimeAsync(count, async () =>
                {
                    await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync().ConfigureAwait(false);
                    insert.Transaction = transaction;
                    insert.Parameters["$id"].Value = "rcpt_" + n++.ToString(CultureInfo.InvariantCulture);
                    await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
                    await transaction.CommitAsync().ConfigureAwait(false);
                }).ConfigureAwait(false));
            }

            await using (var file = new FileStream(Path.Combine(folder, "raw.bin"), FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                var block = new byte[4096];
                Print("raw: write 4 KB + fdatasync", await TimeAsync(count, () =>
                {
                    file.Write(block);
                    file.Flush(flushToDisk: true);
                    return Task.CompletedTask;
                }).ConfigureAwait(false));
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<double[]> TimeAsync(int count, Func<Task> operation)
    {
        for (var i = 0; i < Math.Min(200, count); i++)
        {
            await operation().ConfigureAwait(false);
        }

        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await operation().ConfigureAwait(false);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(samples);
        return samples;
    }

    private static void Print(string name, double[] sorted) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {PipelineLatencyRun.Percentile(sorted, 0.5):F3} | {PipelineLatencyRun.Percentile(sorted, 0.9):F3} | {PipelineLatencyRun.Percentile(sorted, 0.99):F3} | {PipelineLatencyRun.Percentile(sorted, 0.999):F3} |"));
}
