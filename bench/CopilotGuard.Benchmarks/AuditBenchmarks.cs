using BenchmarkDotNet.Attributes;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;

namespace CopilotGuard.Benchmarks;

/// <summary>Durable audit appends per second on SQLite (WAL, synchronous=FULL): one transaction per record vs group commit.</summary>
/// <remarks>Each operation is one acknowledged, fsynced append; <c>Concurrency</c> callers append at once, as concurrent retrievals do.</remarks>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class AuditBenchmarks
{
    public const int AppendsPerInvoke = 512;

    private string _folder = string.Empty;
    private SqliteAuditLog _log = null!;
    private EcdsaAuditSigner _signer = null!;
    private int _next;

    /// <summary>Gets the log under test.</summary>
    public SqliteAuditLog Log => _log;

    /// <summary>1 = one transaction (one fsync) per record; 512 = group commit.</summary>
    [Params(1, 512)]
    public int MaxBatchSize { get; set; }

    /// <summary>How many callers append at the same time.</summary>
    [Params(1, 64)]
    public int Concurrency { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        _folder = Directory.CreateTempSubdirectory("copilotguard-bench-").FullName;
        _signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(_folder, "audit-checkpoint.pem"));
        _log = new SqliteAuditLog(Path.Combine(_folder, "audit.db"), new SqliteAuditLogOptions { MaxBatchSize = MaxBatchSize }, _signer);
        await _log.InitializeAsync(CancellationToken.None);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _log.DisposeAsync();
        _signer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = AppendsPerInvoke)]
    public Task DurableAppends() => RunAsync(_log, Concurrency, AppendsPerInvoke, () => Interlocked.Increment(ref _next));

    /// <summary>Appends <paramref name="count"/> records from <paramref name="concurrency"/> callers and waits until all are durable.</summary>
    public static Task RunAsync(SqliteAuditLog log, int concurrency, int count, Func<int> nextId) =>
        Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            for (var i = worker; i < count; i += concurrency)
            {
                await log.AppendAsync(Record(nextId()), CancellationToken.None).ConfigureAwait(false);
            }
        })));

    /// <summary>A retrieval record of typical size: five chunks, subjects, timings.</summary>
    public static AuditRecord Record(int id) => new()
    {
        RecordId = $"rcpt_{id:D10}",
        Kind = AuditRecordKinds.Retrieval,
        Time = DateTimeOffset.UtcNow,
        SubjectId = "bob",
        Purpose = "support",
        Destination = "internal",
        QueryHash = new string('c', 64),
        PolicyVersion = "2025-01-01",
        PolicyHash = new string('a', 64),
        Decision = "filtered",
        Store = "sqlite",
        PushedFilter = "(json_extract(attributes, '$.source') IN ($p0, $p1)) AND (label_rank <= $p2)",
        Chunks = [.. Enumerable.Range(0, 5).Select(i => new AuditedChunk
        {
            ChunkId = $"doc-{id % 97}#{i}",
            DocumentId = $"doc-{id % 97}",
            Version = 1,
            ContentSha256 = new string('b', 64),
            Label = "Confidential",
            Score = 0.5,
            Subjects = [$"cust-{id % 13}"],
        })],
        Timings = new StageTimings(0.1, 0.2, 3, 1, 0.4),
    };
}
