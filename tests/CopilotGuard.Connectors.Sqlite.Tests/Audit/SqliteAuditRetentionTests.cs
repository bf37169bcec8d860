using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Labels;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>Retention on a real SQLite log: exactly the expected entries expire, the log still verifies, proofs of the
/// survivors still hold, and a failure between tombstoning and the retention record leaves nothing half-applied.</summary>
public sealed class SqliteAuditRetentionTests : IAsyncLifetime
{
    internal static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    internal const string Policy = """
        apiVersion: copilotguard/v1
        default: 400d
        classes:
          - name: hr
            purposes: [hr]
            maxAge: 7y
          - name: public
            labels: [Public, General]
            maxAge: 90d
          - name: answers
            kinds: [answer]
            maxAge: P30D
        """;

    private readonly TempFolder _folder = new();
    private readonly ManualClock _clock = new(Now);
    private EcdsaAuditSigner _signer = null!;
    private SqliteAuditLog _log = null!;

    /// <summary>Gets the records appended before the checkpoint, with whether the policy expires them at <see cref="Now"/>.</summary>
    internal static IReadOnlyList<(AuditRecord Record, bool Expires)> Covered { get; } =
    [
        (Retrieval("hr-old", "hr", 3 * 365, "General"), false),          // hr 7y beats public 90d
        (Retrieval("pub-old", "support", 100, "General"), true),         // public 90d
        (Retrieval("pub-new", "support", 30, "Public"), false),
        (Retrieval("conf-500", "support", 500, "Confidential"), true),   // default 400d
        (Retrieval("conf-300", "support", 300, "Confidential"), false),
        (Retrieval("mixed", "support", 100, "Public", "Confidential"), false), // highest label Confidential: default
        (Answer("ans-old", 40), true),                                   // answers 30d
        (Answer("ans-new", 10), false),
        (Query("aq-300", 300), false),                                   // default 400d
        (Query("aq-450", 450), true),
        (Retrieval("unknown", "support", 1000, "Secret"), false),        // label not in the taxonomy: held
        (Retrieval("hr-ancient", "hr", 8 * 365, "Highly Confidential"), true),
    ];

    internal SqliteAuditLog Log => _log;

    public async Task InitializeAsync()
    {
        _signer = EcdsaAuditSigner.LoadOrCreate(_folder.File("keys/audit-checkpoint.pem"));
        _log = await OpenAsync();
        foreach (var (record, _) in Covered)
        {
            await _log.AppendAsync(record, CancellationToken.None);
        }

        Assert.NotNull(await _log.CheckpointAsync(CancellationToken.None));

        // Old, but not yet covered by a checkpoint: must not expire.
        await _log.AppendAsync(Retrieval("late-old", "support", 1000, "General"), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _log.DisposeAsync();
        _signer.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public async Task ApplyRetentionAsync_DryRun_ListsWithoutWriting()
    {
        var before = await SnapshotAsync();

        var report = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test") { DryRun = true }, CancellationToken.None);

        Assert.True(report.DryRun);
        Assert.Null(report.Record);
        Assert.Equal(Covered.Count(static c => c.Expires), report.Summary.Expired);
        Assert.Equal(1, report.Held);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task ApplyRetentionAsync_MixedAgesPurposesLabels_ExpiresExactlyTheExpectedAndStillVerifies()
    {
        var checkpoints = await _log.GetCheckpointsAsync(CancellationToken.None);

        var report = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);

        var expected = Covered.Where(static c => c.Expires).Select(static c => c.Record.RecordId).ToHashSet();
        var expired = new HashSet<string>();
        await foreach (var entry in _log.ReadAsync(0, CancellationToken.None))
        {
            if (entry.IsExpired)
            {
                expired.Add(entry.RecordId);
                Assert.Equal(AuditRecordKinds.Expired, AuditJson.Deserialize(entry.Payload.Span).Kind);
            }
        }

        Assert.Equal(expected, expired);
        Assert.NotNull(report.Record);
        var summary = report.Record.Record.Retention!;
        Assert.Equal(expected.Count, summary.Expired);
        Assert.Equal(1, summary.Classes.Single(static c => c.Class == "hr").Expired);
        Assert.Equal(1, summary.Classes.Single(static c => c.Class == "public").Expired);
        Assert.Equal(1, summary.Classes.Single(static c => c.Class == "answers").Expired);
        Assert.Equal(2, summary.Classes.Single(static c => c.Class == AuditRetentionPolicy.DefaultClass).Expired);

        var verification = await _log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(expected.Count, verification.Expired);
        Assert.Equal(0, verification.Unanchored);

        // The tombstone keeps its id; its document and subject index rows are gone, the survivors' are not.
        Assert.Equal(AuditRecordKinds.Expired, (await _log.GetAsync("pub-old", CancellationToken.None))!.Record.Kind);
        Assert.Empty((await _log.GetDocumentAccessesAsync("doc-pub-old", new AuditPageRequest(), CancellationToken.None)).Entries);
        Assert.Empty((await _log.GetSubjectAccessesAsync("subj-pub-old", new AuditPageRequest(), CancellationToken.None)).Entries);
        Assert.Single((await _log.GetDocumentAccessesAsync("doc-pub-new", new AuditPageRequest(), CancellationToken.None)).Entries);

        // Inclusion proofs of every survivor still hold, against the old checkpoint and the retention run's one.
        foreach (var checkpoint in (await _log.GetCheckpointsAsync(CancellationToken.None)).Append(checkpoints[0]))
        {
            await foreach (var entry in _log.ReadAsync(0, CancellationToken.None))
            {
                if (entry.Sequence <= checkpoint.TreeSize && !entry.IsExpired)
                {
                    var proof = await AuditInclusionProof.BuildAsync(_log, entry.Sequence, checkpoint, CancellationToken.None);
                    Assert.Null(proof.Verify(_signer));
                }
            }
        }

        // The retention run's own checkpoint now covers late-old, so the next run expires it, and then nothing more.
        var again = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(1, again.Summary.Expired);
        Assert.Equal(AuditRecordKinds.Expired, (await _log.GetAsync("late-old", CancellationToken.None))!.Record.Kind);
        var last = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Null(last.Record);
        Assert.Equal(0, last.Summary.Expired);
        Assert.True((await _log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task ApplyRetentionAsync_LaterRunAfterACheckpoint_ExpiresTheNewlyCoveredAndKeepsVerifying()
    {
        await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        await _log.AppendAsync(Retrieval("after", "support", 1, "General"), CancellationToken.None);
        await _log.CheckpointAsync(CancellationToken.None);
        _clock.Now = Now.AddDays(1);

        var second = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);

        Assert.Equal(1, second.Summary.Expired);
        Assert.Equal(AuditRecordKinds.Expired, (await _log.GetAsync("late-old", CancellationToken.None))!.Record.Kind);
        Assert.Equal("after", (await _log.GetAsync("after", CancellationToken.None))!.Record.RecordId);
        Assert.NotEqual(AuditRecordKinds.Expired, (await _log.GetAsync("after", CancellationToken.None))!.Record.Kind);
        var verification = await _log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Covered.Count(static c => c.Expires) + 1, verification.Expired);

        // Appends keep chaining after retention (the writer rebuilds its state from the retention checkpoint).
        await _log.AppendAsync(Retrieval("tail", "support", 0, "General"), CancellationToken.None);
        Assert.True((await _log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task ApplyRetentionAsync_ConcurrentAppends_AllDurableAndTheChainVerifies()
    {
        var appends = Enumerable.Range(0, 200).Select(i => Task.Run(() => _log.AppendAsync(Retrieval($"concurrent-{i}", "support", 1000, "General"), CancellationToken.None))).ToArray();

        var report = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        var entries = await Task.WhenAll(appends);

        Assert.NotNull(report.Record);
        foreach (var entry in entries)
        {
            Assert.Equal(entry.Hash, (await _log.GetAsync(entry.Record.RecordId, CancellationToken.None))!.Hash);
        }

        await _log.CheckpointAsync(CancellationToken.None);
        var verification = await _log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Covered.Count + 1 + 200 + 1, verification.Records);
        Assert.Equal(report.Summary.Expired, verification.Expired);
    }

    [Fact]
    public async Task ApplyRetentionAsync_RetentionRecordInsertFails_NothingIsHalfApplied()
    {
        var before = await SnapshotAsync();
        await ExecuteAsync("CREATE TRIGGER boom BEFORE INSERT ON audit_log WHEN NEW.record_id LIKE 'ret_%' BEGIN SELECT RAISE(ABORT, 'simulated failure after tombstoning'); END");

        await Assert.ThrowsAsync<SqliteException>(() => _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));

        Assert.Equal(before, await SnapshotAsync());
        var verification = await _log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(0, verification.Expired);
    }

    [Fact]
    public async Task ApplyRetentionAsync_CheckpointInsertFails_NothingIsHalfApplied()
    {
        var before = await SnapshotAsync();
        await ExecuteAsync("CREATE TRIGGER boom BEFORE INSERT ON audit_checkpoints WHEN EXISTS (SELECT 1 FROM audit_log WHERE record_id LIKE 'ret_%') BEGIN SELECT RAISE(ABORT, 'simulated failure before the checkpoint'); END");

        await Assert.ThrowsAsync<SqliteException>(() => _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));

        Assert.Equal(before, await SnapshotAsync());
        await ExecuteAsync("DROP TRIGGER boom");
        var report = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(Covered.Count(static c => c.Expires), report.Summary.Expired);
        Assert.True((await _log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task ApplyRetentionAsync_WithoutSigner_RefusesAndWritesNothing()
    {
        await using var unsigned = new SqliteAuditLog(_folder.File("audit.db"), new SqliteAuditLogOptions(), signer: null, _clock);
        await unsigned.InitializeAsync(CancellationToken.None);
        var before = await SnapshotAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => unsigned.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));

        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task InitializeAsync_VersionTwoLog_MigratesInPlaceAndStillVerifies()
    {
        await _log.DisposeAsync();
        await ExecuteAsync("ALTER TABLE audit_log DROP COLUMN leaf_hash; PRAGMA user_version = 2;");

        _log = await OpenAsync();

        Assert.True((await _log.VerifyAsync(CancellationToken.None)).Ok);
        var report = await _log.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(Covered.Count(static c => c.Expires) + 1, report.Summary.Expired); // late-old: anchored on dispose
        Assert.True((await _log.VerifyAsync(CancellationToken.None)).Ok);
    }

    internal static AuditRetentionPolicy LoadPolicy() => RetentionFile.Parse("retention.yaml", Policy, LabelTaxonomy.Default);

    internal static AuditRecord Retrieval(string id, string purpose, int ageDays, params string[] labels) => new()
    {
        RecordId = id,
        Kind = AuditRecordKinds.Retrieval,
        Time = Now.AddDays(-ageDays),
        SubjectId = "bob",
        Purpose = purpose,
        PolicyVersion = "v1",
        PolicyHash = new string('a', 64),
        Decision = "filtered",
        Chunks = [.. labels.Select((label, i) => new AuditedChunk { ChunkId = $"doc-{id}#{i}", DocumentId = $"doc-{id}", Version = 1, ContentSha256 = new string('b', 64), Label = label, Score = 0.5, Subjects = [$"subj-{id}"] })],
    };

    internal static AuditRecord Answer(string id, int ageDays) => new()
    {
        RecordId = id,
        Kind = AuditRecordKinds.Answer,
        Time = Now.AddDays(-ageDays),
        SubjectId = "bob",
        PolicyVersion = "v1",
        PolicyHash = new string('a', 64),
        Decision = "registered",
        Answer = new AnswerBinding { AnswerSha256 = new string('c', 64), ReceiptIds = ["pub-new"] },
    };

    internal static AuditRecord Query(string id, int ageDays) => new()
    {
        RecordId = id,
        Kind = AuditRecordKinds.AuditQuery,
        Time = Now.AddDays(-ageDays),
        SubjectId = "cora",
        Purpose = "compliance",
        PolicyVersion = "v1",
        PolicyHash = new string('a', 64),
        Decision = "allowed",
        Target = "verify",
    };

    internal async Task<SqliteAuditLog> OpenAsync()
    {
        var log = new SqliteAuditLog(_folder.File("audit.db"), new SqliteAuditLogOptions { CheckpointEvery = 1000, CheckpointInterval = TimeSpan.FromHours(1) }, _signer, _clock);
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    internal async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new SqliteConnection($"Data Source={_folder.File("audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Reads every row of every table, so a test can assert that nothing changed.</summary>
    internal async Task<string> SnapshotAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={_folder.File("audit.db")};Pooling=False");
        await connection.OpenAsync();
        var lines = new List<string>();
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
}

/// <summary>A clock the test sets by hand.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
