using System.Collections.Immutable;
using CopilotGuard.Audit;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

public sealed class SqliteAuditLogTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly EcdsaAuditSigner _signer;

    public SqliteAuditLogTests() => _signer = EcdsaAuditSigner.LoadOrCreate(_folder.File("keys/audit-checkpoint.pem"));

    internal EcdsaAuditSigner Signer => _signer;

    public void Dispose()
    {
        _signer.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public async Task AppendAsync_ConcurrentCallers_AreGroupCommittedAndAllDurable()
    {
        await using var log = await OpenAsync();
        var tasks = Enumerable.Range(0, 400).Select(i => Task.Run(() => log.AppendAsync(Record($"r{i}", subjects: [$"cust-{i % 7}"]), CancellationToken.None))).ToArray();

        var entries = await Task.WhenAll(tasks);

        Assert.Equal(Enumerable.Range(1, 400).Select(static i => (long)i), entries.Select(static e => e.Sequence).Order());
        Assert.True(log.Commits < 400, $"{log.Commits} commits for 400 appends: no batching happened");
        foreach (var entry in entries)
        {
            var stored = await log.GetAsync(entry.Record.RecordId, CancellationToken.None);
            Assert.NotNull(stored);
            Assert.Equal((entry.Sequence, entry.Hash), (stored.Sequence, stored.Hash));
        }

        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(400, verification.Records);
    }

    [Fact]
    public async Task AppendAsync_CommitFails_EveryWaiterInTheBatchFailsAndNothingOfItIsStored()
    {
        await using var log = await OpenAsync();
        await ExecuteAsync("CREATE TRIGGER boom BEFORE INSERT ON audit_log WHEN NEW.record_id = 'boom' BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END");
        var ids = Enumerable.Range(0, 60).Select(static i => i == 30 ? "boom" : $"r{i}").ToArray();

        var outcomes = await Task.WhenAll(ids.Select(id => Task.Run(async () =>
        {
            try
            {
                return (id, (AuditEntry?)await log.AppendAsync(Record(id), CancellationToken.None));
            }
            catch (SqliteException)
            {
                return (id, null);
            }
        })));

        Assert.Null(outcomes.Single(static o => o.id == "boom").Item2);
        foreach (var (id, entry) in outcomes)
        {
            var stored = await log.GetAsync(id, CancellationToken.None);
            Assert.Equal(entry is not null, stored is not null);
        }

        var after = await log.AppendAsync(Record("after"), CancellationToken.None);
        Assert.Equal(outcomes.Count(static o => o.Item2 is not null) + 1, after.Sequence);
        Assert.True((await log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task AppendAsync_TwoLogsOnOneFile_KeepOneChain()
    {
        await using var first = await OpenAsync();
        await using var second = await OpenAsync();

        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => (i % 2 == 0 ? first : second).AppendAsync(Record($"r{i}"), CancellationToken.None)));

        var verification = await first.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(50, verification.Records);
    }

    [Fact]
    public async Task AppendAsync_EveryNRecords_WritesSignedCheckpointsThatVerify()
    {
        await using var log = await OpenAsync(checkpointEvery: 10);
        for (var i = 0; i < 25; i++)
        {
            await log.AppendAsync(Record($"r{i}"), CancellationToken.None);
        }

        var checkpoints = await log.GetCheckpointsAsync(CancellationToken.None);
        Assert.Equal([10L, 20L], checkpoints.Select(static c => c.TreeSize));
        Assert.All(checkpoints, c => Assert.True(c.IsSignedBy(_signer)));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(2, verification.Checkpoints);
        Assert.Equal(5, verification.Unanchored);
    }

    [Fact]
    public async Task DisposeAsync_UnanchoredTail_IsCheckpointed()
    {
        await using (var log = await OpenAsync(checkpointEvery: 1000))
        {
            await log.AppendAsync(Record("r1"), CancellationToken.None);
            await log.AppendAsync(Record("r2"), CancellationToken.None);
        }

        await using var reopened = await OpenAsync();
        var verification = await reopened.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(0, verification.Unanchored);
        Assert.Equal(2, (await reopened.GetCheckpointsAsync(CancellationToken.None)).Single().TreeSize);
    }

    [Fact]
    public async Task WriteLoop_AfterTheInterval_CheckpointsAnIdleTail()
    {
        await using var log = await OpenAsync(checkpointEvery: 1000, interval: TimeSpan.FromMilliseconds(50));
        await log.AppendAsync(Record("r1"), CancellationToken.None);

        IReadOnlyList<AuditCheckpoint> checkpoints = [];
        for (var attempt = 0; attempt < 200 && checkpoints.Count == 0; attempt++)
        {
            await Task.Delay(50);
            checkpoints = await log.GetCheckpointsAsync(CancellationToken.None);
        }

        Assert.Equal(1, Assert.Single(checkpoints).TreeSize);
    }

    [Fact]
    public async Task GetSubjectAccessesAsync_ManyRecords_PagesWithoutGapsOrRepeats()
    {
        await using var log = await OpenAsync();
        for (var i = 0; i < 23; i++)
        {
            await log.AppendAsync(Record($"r{i}", subjects: i % 2 == 0 ? ["cust-1", "cust-2"] : ["cust-2"]), CancellationToken.None);
        }

        var seen = new List<string>();
        long? after = 0;
        while (after is { } cursor)
        {
            var page = await log.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(5, cursor), CancellationToken.None);
            Assert.InRange(page.Entries.Count, 1, 5);
            seen.AddRange(page.Entries.Select(static e => e.Record.RecordId));
            after = page.NextAfterSequence;
        }

        Assert.Equal(Enumerable.Range(0, 23).Where(static i => i % 2 == 0).Select(static i => $"r{i}"), seen);
        Assert.Equal(23, (await log.GetSubjectAccessesAsync("cust-2", new AuditPageRequest(1000), CancellationToken.None)).Entries.Count);
        Assert.Equal(["r0"], (await log.GetDocumentAccessesAsync("doc-r0", new AuditPageRequest(), CancellationToken.None)).Entries.Select(static e => e.Record.RecordId));
    }

    [Fact]
    public async Task InitializeAsync_LogFromBeforeSubjectIndex_BackfillsSubjects()
    {
        await using (var log = await OpenAsync())
        {
            await log.AppendAsync(Record("old", subjects: ["pat-9"]), CancellationToken.None);
        }

        await ExecuteAsync("DROP TABLE audit_subjects; DROP TABLE audit_answers; DROP TABLE audit_checkpoints; PRAGMA user_version = 0;");

        await using var migrated = await OpenAsync();
        Assert.Equal("old", Assert.Single((await migrated.GetSubjectAccessesAsync("pat-9", new AuditPageRequest(), CancellationToken.None)).Entries).Record.RecordId);
        Assert.True((await migrated.VerifyAsync(CancellationToken.None)).Ok);
    }

    internal async Task<SqliteAuditLog> OpenAsync(int checkpointEvery = 5, TimeSpan? interval = null)
    {
        var log = new SqliteAuditLog(_folder.File("audit.db"), new SqliteAuditLogOptions { CheckpointEvery = checkpointEvery, CheckpointInterval = interval ?? TimeSpan.FromHours(1) }, _signer);
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    internal async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={_folder.File("audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    internal static AuditRecord Record(string id, ImmutableArray<string>? subjects = null) => new()
    {
        RecordId = id,
        Kind = AuditRecordKinds.Retrieval,
        Time = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
        SubjectId = "bob",
        PolicyVersion = "v1",
        PolicyHash = new string('a', 64),
        Decision = "filtered",
        Chunks = [new AuditedChunk { ChunkId = $"doc-{id}#0", DocumentId = $"doc-{id}", Version = 1, ContentSha256 = new string('b', 64), Label = "General", Score = 0.5, Subjects = subjects ?? [] }],
    };
}
