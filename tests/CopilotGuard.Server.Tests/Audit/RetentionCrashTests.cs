using System.Collections.Concurrent;
using System.Diagnostics;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Hosting;
using Xunit.Abstractions;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary>Issue 16, faults: <c>copilotguard audit retention</c> runs in a child process over a log with thousands of
/// expiring entries while this process keeps appending to the same log; the child is killed with SIGKILL inside the run's
/// write transaction. The property: after the kill the log verifies, the interrupted run left nothing (no tombstone, no
/// retention record: retention is one transaction), every entry whose append was acknowledged (before, during or after
/// the run) is in the log with its payload, and a later run expires exactly the entries the policy expires (old
/// <c>retention-test</c> entries covered by a signed checkpoint) and nothing else, the log still verifying.</summary>
[Collection(ServerCollection.Name)]
public sealed class RetentionCrashTests(ServerFixture server, ITestOutputHelper output) : IDisposable
{
    /// <summary>Expiring entries: enough that the run's write transaction lasts well beyond the WAL polling interval. A
    /// complete run over 15,000 wrote about 14 MB of WAL here (in about 1.5 s), so one over 10,000 writes about 9 MB.</summary>
    private const int Expiring = 10_000;

    /// <summary>How much the WAL grows before the child is killed: several times what the other writer's appends need
    /// between two passive checkpoints, and about a third of what the run writes before it commits.</summary>
    private const long KillAtWalGrowth = 3 << 20;

    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-retention-crash-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task RetentionRun_KilledInItsTransaction_LogVerifiesNothingHalfExpiredEveryAcknowledgedEntryKept()
    {
        ChildProcess.CopySeededFolder(server.DataPath, _data);
        var auditPath = Path.Combine(_data, "audit.db");
        await File.WriteAllTextAsync(Path.Combine(_data, RetentionFile.FileName), """
            apiVersion: copilotguard/v1
            default: forever
            classes:
              - name: old-test-entries
                purposes: [retention-test]
                maxAge: 30d
            """);

        // The log before the run: old retention-test entries (expire), old entries of another purpose and recent
        // retention-test entries (kept), all covered by a signed checkpoint.
        var clock = Stopwatch.StartNew();
        var expiring = new HashSet<string>(StringComparer.Ordinal);
        var acknowledged = new ConcurrentBag<string>();
        await using (var signer = SignerHolder.Of(_data))
        await using (var seed = new SqliteAuditLog(auditPath, new SqliteAuditLogOptions { SynchronousFull = false }, signer.Signer))
        {
            await seed.InitializeAsync(CancellationToken.None);
            for (var first = 0; first < Expiring + 400; first += 1000)
            {
                var batch = Enumerable.Range(first, Math.Min(1000, Expiring + 400 - first)).Select(i => i < Expiring
                    ? Record($"rcpt_old_{i}", "retention-test", ageDays: 40)
                    : i % 2 == 0 ? Record($"rcpt_kept_{i}", "support", ageDays: 40) : Record($"rcpt_recent_{i}", "retention-test", ageDays: 1)).ToList();
                foreach (var entry in await Task.WhenAll(batch.Select(r => seed.AppendAsync(r, CancellationToken.None))))
                {
                    if (!(entry.Record.RecordId.StartsWith("rcpt_old_", StringComparison.Ordinal) && expiring.Add(entry.Record.RecordId)))
                    {
                        acknowledged.Add(entry.Record.RecordId);
                    }
                }
            }

            Assert.NotNull(await seed.CheckpointAsync(CancellationToken.None));
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var seeded = clock.Elapsed;

        // Another writer (a server) appends to the same log throughout; each acknowledged append must survive.
        var walPath = auditPath + "-wal";
        var signerOfWriter = SignerHolder.Of(_data);
        var writer = new SqliteAuditLog(auditPath, signer: signerOfWriter.Signer);
        await writer.InitializeAsync(CancellationToken.None);
        using var stopWriting = new CancellationTokenSource();
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var afterKill = 0;
        var appending = Task.Run(async () =>
        {
            for (var i = 0; !stopWriting.IsCancellationRequested; i++)
            {
                var entry = await writer.AppendAsync(Record($"rcpt_live_{i}", "support", ageDays: 0), CancellationToken.None);
                acknowledged.Add(entry.Record.RecordId);
                await Task.Delay(20, CancellationToken.None);
                if (killed.Task.IsCompleted && Interlocked.Increment(ref afterKill) >= 10)
                {
                    return;
                }
            }
        });

        var baseline = File.Exists(walPath) ? new FileInfo(walPath).Length : 0;
        var errors = new ConcurrentQueue<string>();
        var started = clock.Elapsed;
        long wal = baseline;
        TimeSpan? growing = null;
        var killedAt = TimeSpan.Zero;
        using var child = ChildProcess.Start("CopilotGuard.Cli", errors, "audit", "retention", "--json", "--data", _data);
        try
        {
            // The run's write transaction spills its tombstones into the WAL long before it commits: once the WAL has grown
            // by megabytes more than the other writer's small appends ever need, the run is inside its transaction.
            while (!child.HasExited && (wal = File.Exists(walPath) ? new FileInfo(walPath).Length : 0) < baseline + KillAtWalGrowth)
            {
                growing ??= wal > baseline + (1 << 20) ? clock.Elapsed : null;
                await Task.Delay(5);
            }

            Assert.False(child.HasExited, $"the retention run ended before it could be killed (exit {(child.HasExited ? child.ExitCode : 0)}): {string.Join('\n', errors.TakeLast(20))}");
            child.Kill(); // SIGKILL on Unix: the transaction is neither committed nor rolled back by the process.
            await child.WaitForExitAsync();
            killedAt = clock.Elapsed;
            killed.SetResult();
            await appending.WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            // Whatever failed, nothing outlives the test: the writer stops, the child is dead.
            await stopWriting.CancelAsync();
            if (!child.HasExited)
            {
                child.Kill();
            }

            await appending.ContinueWith(static _ => { }, TaskScheduler.Default);
            await writer.DisposeAsync();
            await signerOfWriter.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        output.WriteLine($"{Expiring + 400} entries seeded ({Expiring} expiring) in {seeded.TotalSeconds:0.0} s; retention child killed " +
            $"{(killedAt - started).TotalSeconds:0.00} s after its start ({((growing ?? killedAt) - started).TotalSeconds:0.00} s to a 1 MB WAL) with the WAL at {wal >> 20} MB (baseline {baseline >> 10} KB); {acknowledged.Count - 400} entries appended alongside");

        // Restart: the log verifies, the interrupted run left nothing, and every acknowledged entry is there, whole.
        await using var signerAfter = SignerHolder.Of(_data);
        await using (var log = new SqliteAuditLog(auditPath, signer: signerAfter.Signer))
        {
            await log.InitializeAsync(CancellationToken.None);
            var verification = await log.VerifyAsync(CancellationToken.None);
            Assert.True(verification.Ok, verification.Problem);
            var kinds = await KindsAsync(log);
            Assert.False(kinds.ContainsValue(AuditRecordKinds.Retention), "the run committed before the kill, so it was not killed inside its transaction");
            Assert.Equal(0, verification.Expired);
            foreach (var id in acknowledged.Concat(expiring))
            {
                Assert.True(kinds.TryGetValue(id, out var kind) && kind == AuditRecordKinds.Retrieval, $"{id} is missing or not whole after the kill");
            }

            output.WriteLine($"checked after the kill at {clock.Elapsed.TotalSeconds:0.0} s");

            // The next run completes: exactly the expiring entries become tombstones, and the log still verifies.
            var labeling = await CopilotGuardRuntime.LoadLabelingAsync(new DataFolder(_data), CancellationToken.None);
            var policy = await RetentionFile.LoadAsync(Path.Combine(_data, RetentionFile.FileName), labeling.Taxonomy, CancellationToken.None);
            var report = await log.ApplyRetentionAsync(policy, new AuditRetentionRun("test:retention"), CancellationToken.None);
            Assert.Equal(Expiring, report.Summary.Expired);
            verification = await log.VerifyAsync(CancellationToken.None);
            Assert.True(verification.Ok, verification.Problem);
            Assert.Equal(Expiring, verification.Expired);
            kinds = await KindsAsync(log);
            Assert.All(acknowledged, id => Assert.Equal(AuditRecordKinds.Retrieval, kinds[id]));
            Assert.All(expiring, id => Assert.Equal(AuditRecordKinds.Expired, kinds[id]));
            Assert.Single(kinds.Values, AuditRecordKinds.Retention);

            output.WriteLine($"completed at {clock.Elapsed.TotalSeconds:0.0} s");
        }
    }

    private AuditRecord Record(string id, string purpose, int ageDays) => new()
    {
        RecordId = id,
        Kind = AuditRecordKinds.Retrieval,
        Time = DateTimeOffset.UtcNow.AddDays(-ageDays),
        SubjectId = "bob",
        Purpose = purpose,
        Destination = "internal",
        PolicyVersion = server.Runtime.Policy.Version,
        PolicyHash = server.Runtime.Policy.Sha256,
        Decision = "all",
        Store = "sqlite",
        Chunks =
        [
            new AuditedChunk { ChunkId = "kb-001#0", DocumentId = "kb-001", Version = 1, ContentSha256 = new string('a', 64), Label = "General", Score = 0.5, Subjects = ["customer-42"] },
        ],
    };

    /// <summary>Reads the whole log once: each record id with its kind (<c>expired</c> for a tombstone).</summary>
    private static async Task<Dictionary<string, string>> KindsAsync(SqliteAuditLog log)
    {
        var kinds = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var entry in log.ReadAsync(0, CancellationToken.None))
        {
            var record = AuditJson.Deserialize(entry.Payload.Span);
            kinds[record.RecordId] = record.Kind;
        }

        return kinds;
    }
}
