using CopilotGuard.Audit;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>The document, subject and answer index rows are written behind the appends (every <c>IndexEvery</c> entries,
/// when the log is quiet, or when a reader asks): no reader ever misses a committed entry, whichever process wrote it, and
/// an edited index mark or a row beyond it fails verification.</summary>
public sealed class SqliteAuditIndexTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly EcdsaAuditSigner _signer;

    public SqliteAuditIndexTests() => _signer = EcdsaAuditSigner.LoadOrCreate(_folder.File("keys/audit-checkpoint.pem"));

    public void Dispose()
    {
        _signer.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public async Task Appends_AreIndexedBehind_YetEveryReaderSeesThemAtOnce()
    {
        await using var log = await OpenAsync(_folder.File("audit.db"));
        for (var i = 0; i < 10; i++)
        {
            await log.AppendAsync(SqliteAuditLogTests.Record($"r{i}", subjects: [$"cust-{i % 3}"]), CancellationToken.None);
        }

        Assert.Equal(0, await CountAsync(_folder.File("audit.db"), "SELECT count(*) FROM audit_documents"));

        Assert.Equal(["r4"], (await log.GetDocumentAccessesAsync("doc-r4", new AuditPageRequest(), CancellationToken.None)).Entries.Select(static e => e.Record.RecordId));
        Assert.Equal(10, await CountAsync(_folder.File("audit.db"), "SELECT count(*) FROM audit_documents"));
        Assert.Equal(["r1", "r4", "r7"], (await log.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(), CancellationToken.None)).Entries.Select(static e => e.Record.RecordId));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
    }

    [Fact]
    public async Task ManyEntriesIndexedAtOnce_AreWrittenInSeveralStatements_WithEveryRow()
    {
        // 300 entries of 12 chunks with long ids: ~400 KB of rows, written in statements of at most 16 KB each.
        var path = _folder.File("audit.db");
        await using var log = await OpenAsync(path, indexEvery: 300);
        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => log.AppendAsync(SqliteAuditLogTests.Record($"r{i}") with
        {
            Chunks = [.. Enumerable.Range(0, 12).Select(c => new AuditedChunk { ChunkId = $"doc-{i}-{c}-{new string('x', 80)}\u00e9#0", DocumentId = $"doc-{c}", Version = 1, ContentSha256 = new string('b', 64), Label = "General", Score = 0.5, Subjects = [$"cust-{c}"] })],
        }, CancellationToken.None)));

        Assert.Equal(300, (await log.GetDocumentAccessesAsync("doc-7", new AuditPageRequest(AuditPageRequest.MaxLimit), CancellationToken.None)).Entries.Count);
        Assert.Equal(3600, await CountAsync(path, "SELECT count(*) FROM audit_documents"));
        Assert.Equal(3600, await CountAsync(path, "SELECT count(*) FROM audit_subjects"));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
    }

    [Fact]
    public async Task QuietLog_IndexesWaitingEntriesByItself()
    {
        var path = _folder.File("audit.db");
        await using var log = new SqliteAuditLog(path, new SqliteAuditLogOptions { CheckpointInterval = TimeSpan.FromHours(1), IndexDelay = TimeSpan.FromMilliseconds(50) }, _signer);
        await log.InitializeAsync(CancellationToken.None);
        await log.AppendAsync(SqliteAuditLogTests.Record("r1"), CancellationToken.None);
        await log.AppendAsync(SqliteAuditLogTests.Record("r2"), CancellationToken.None);

        // Waits on the condition, with a deadline: the background loop indexes once the log has been quiet for 50 ms.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await CountAsync(path, "SELECT count(*) FROM audit_documents") < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(2, await CountAsync(path, "SELECT count(*) FROM audit_documents"));
        Assert.Equal(2, await CountAsync(path, "SELECT indexed_through FROM audit_index_state"));
    }

    [Fact]
    public async Task IndexEveryOne_IndexesEachEntryInItsOwnCommit()
    {
        await using var log = await OpenAsync(_folder.File("audit.db"), indexEvery: 1);
        await log.AppendAsync(SqliteAuditLogTests.Record("r1"), CancellationToken.None);

        Assert.Equal(1, await CountAsync(_folder.File("audit.db"), "SELECT count(*) FROM audit_documents WHERE document_id = 'doc-r1'"));
    }

    [Fact]
    public async Task EntriesAnotherProcessHasNotIndexed_AreIndexedFromTheLogByThisOne()
    {
        var path = _folder.File("audit.db");
        await using var writer = await OpenAsync(path);
        await using var reader = await OpenAsync(path);
        for (var i = 0; i < 5; i++)
        {
            await writer.AppendAsync(SqliteAuditLogTests.Record($"a{i}", subjects: ["cust-1"]), CancellationToken.None);
        }

        // The reader's log indexes the writer's entries from their stored records; the writer, indexing later, skips them.
        Assert.Equal(5, (await reader.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(), CancellationToken.None)).Entries.Count);
        for (var i = 5; i < 8; i++)
        {
            await writer.AppendAsync(SqliteAuditLogTests.Record($"a{i}", subjects: ["cust-1"]), CancellationToken.None);
        }

        Assert.Equal(8, (await writer.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(), CancellationToken.None)).Entries.Count);
        Assert.Equal(8, await CountAsync(path, "SELECT count(*) FROM audit_subjects"));
        var verification = await reader.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
    }

    [Fact]
    public async Task EntriesCommittedBeforeACrash_AreIndexedAfterTheRestart()
    {
        // A copy of the file and its WAL taken while the writer still holds unindexed entries is what a crash leaves.
        var path = _folder.File("audit.db");
        var crashed = _folder.File("crashed/audit.db");
        await using (var log = await OpenAsync(path))
        {
            for (var i = 0; i < 6; i++)
            {
                await log.AppendAsync(SqliteAuditLogTests.Record($"r{i}"), CancellationToken.None);
            }

            Directory.CreateDirectory(Path.GetDirectoryName(crashed)!);
            File.Copy(path, crashed);
            File.Copy(path + "-wal", crashed + "-wal");
        }

        Assert.Equal(0, await CountAsync(crashed, "SELECT count(*) FROM audit_documents"));
        await using var restarted = await OpenAsync(crashed);
        Assert.Single((await restarted.GetDocumentAccessesAsync("doc-r5", new AuditPageRequest(), CancellationToken.None)).Entries);
        var verification = await restarted.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(6, verification.Records);
    }

    [Theory]
    [InlineData("UPDATE audit_index_state SET indexed_through = 99", "past the last entry")]
    [InlineData("INSERT INTO audit_documents (seq, document_id, chunk_id) VALUES (7, 'doc-x', 'doc-x#0')", "entry 7")]
    [InlineData("DELETE FROM audit_index_state", "mark is missing")]
    public async Task Verify_EditedIndexMarkOrRowAfterIt_IsReported(string tamper, string problem)
    {
        var path = _folder.File("audit.db");
        await using (var log = await OpenAsync(path, indexEvery: 1))
        {
            for (var i = 0; i < 6; i++)
            {
                await log.AppendAsync(SqliteAuditLogTests.Record($"r{i}"), CancellationToken.None);
            }
        }

        await using (var log = await OpenAsync(path))
        {
            await log.AppendAsync(SqliteAuditLogTests.Record("r6"), CancellationToken.None);
            await ExecuteAsync(path, tamper);
            var verification = await log.VerifyAsync(CancellationToken.None);
            Assert.False(verification.Ok);
            Assert.Contains(problem, verification.Problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Verify_IndexMarkMovedBack_ReindexedRowsAreReportedAsDuplicates()
    {
        var path = _folder.File("audit.db");
        await using var log = await OpenAsync(path, indexEvery: 1);
        for (var i = 0; i < 4; i++)
        {
            await log.AppendAsync(SqliteAuditLogTests.Record($"r{i}"), CancellationToken.None);
        }

        await ExecuteAsync(path, "UPDATE audit_index_state SET indexed_through = 2");

        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.False(verification.Ok);
        Assert.Equal(3, verification.FirstBadSequence);
    }

    private async Task<SqliteAuditLog> OpenAsync(string path, int indexEvery = 256)
    {
        var log = new SqliteAuditLog(path, new SqliteAuditLogOptions { CheckpointEvery = 1000, CheckpointInterval = TimeSpan.FromHours(1), IndexEvery = indexEvery, IndexDelay = TimeSpan.FromHours(1) }, _signer);
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    private static async Task<long> CountAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
