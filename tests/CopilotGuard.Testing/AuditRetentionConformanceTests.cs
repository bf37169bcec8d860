using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Audit;
using CopilotGuard.Labels;
using Xunit;

namespace CopilotGuard.Testing;

/// <summary>Retention on a real audit store, for every store that implements <see cref="IAuditRetention"/>: exactly the
/// expected entries expire, the log still verifies, proofs of the survivors still hold, a failure between tombstoning
/// and the checkpoint leaves nothing half-applied, a store created before retention migrates in place, and edits of a
/// log that retention has run on are named by verification.</summary>
/// <remarks>Written against raw-storage hooks only; subclassed by the SQLite and PostgreSQL audit log tests.</remarks>
public abstract class AuditRetentionConformanceTests : IAsyncLifetime
{
    /// <summary>The clock of every test: retention cutoffs are computed at this instant.</summary>
    protected static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private const string Policy = """
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

    private readonly DirectoryInfo _keys = Directory.CreateTempSubdirectory("copilotguard-retention-keys-");
    private readonly List<IAuditStore> _open = [];

    /// <summary>Creates the suite with a fresh checkpoint key.</summary>
    protected AuditRetentionConformanceTests() => Signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(_keys.FullName, "audit-checkpoint.pem"));

    /// <summary>Gets the records appended before the first checkpoint, with whether the policy expires them at <see cref="Now"/>.</summary>
    protected static IReadOnlyList<(AuditRecord Record, bool Expires)> Covered { get; } =
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

    /// <summary>Gets the key that signs checkpoints.</summary>
    protected EcdsaAuditSigner Signer { get; }

    /// <summary>Gets the clock the logs use.</summary>
    protected ManualClock Clock { get; } = new(Now);

    /// <summary>Gets the log the tests run retention on.</summary>
    protected IAuditStore Log { get; private set; } = null!;

    private IAuditRetention Retention => (IAuditRetention)Log;

    /// <summary>Creates a log (not yet initialized) over this test's store, checkpointing only on request, on dispose
    /// and every 1,000 entries.</summary>
    protected abstract IAuditStore CreateLog(IAuditSigner? signer, TimeProvider time);

    /// <summary>Reads every row of every table of the store (entries with their kept leaf hash, index rows, checkpoints), so a test can assert that nothing changed.</summary>
    protected abstract Task<string> SnapshotAsync();

    /// <summary>Makes the storage refuse the insert of any retention record (record id <c>ret_...</c>).</summary>
    protected abstract Task FailRetentionRecordInsertsAsync();

    /// <summary>Makes the storage refuse any checkpoint insert while a retention record is in the log (in the same transaction).</summary>
    protected abstract Task FailCheckpointInsertsAfterARetentionRecordAsync();

    /// <summary>Undoes <see cref="FailCheckpointInsertsAfterARetentionRecordAsync"/>.</summary>
    protected abstract Task StopFailingCheckpointInsertsAsync();

    /// <summary>Returns the (closed) store to its schema before retention existed: no kept leaf hash column.</summary>
    protected abstract Task RevertToSchemaBeforeRetentionAsync();

    /// <summary>Overwrites the record id, payload and kept leaf hash of the entry at <paramref name="sequence"/>; with a
    /// leaf hash (a hand-made tombstone) also deletes the entry's index rows, as retention does.</summary>
    protected abstract Task UpdateStoredEntryAsync(long sequence, string recordId, byte[] payload, string? leafHash);

    /// <summary>Inserts an entry row exactly as given (record id, payload, chain hash); other columns may hold anything.</summary>
    protected abstract Task InsertStoredEntryAsync(StoredAuditEntry entry);

    /// <inheritdoc />
    public virtual async Task InitializeAsync()
    {
        Log = await OpenAsync(Signer);
        foreach (var (record, _) in Covered)
        {
            await Log.AppendAsync(record, CancellationToken.None);
        }

        Assert.NotNull(await Log.CheckpointAsync(CancellationToken.None));

        // Old, but not yet covered by a checkpoint: must not expire.
        await Log.AppendAsync(Retrieval("late-old", "support", 1000, "General"), CancellationToken.None);
    }

    /// <inheritdoc />
    public virtual async Task DisposeAsync()
    {
        foreach (var log in _open)
        {
            await log.DisposeAsync();
        }

        Signer.Dispose();
        _keys.Delete(recursive: true);
    }

    [Fact]
    public async Task ApplyRetentionAsync_DryRun_ListsWithoutWriting()
    {
        var before = await SnapshotAsync();

        var report = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test") { DryRun = true }, CancellationToken.None);

        Assert.True(report.DryRun);
        Assert.Null(report.Record);
        Assert.Equal(Covered.Count(static c => c.Expires), report.Summary.Expired);
        Assert.Equal(1, report.Held);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task ApplyRetentionAsync_MixedAgesPurposesLabels_ExpiresExactlyTheExpectedAndStillVerifies()
    {
        var checkpoints = await Log.GetCheckpointsAsync(CancellationToken.None);

        var report = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);

        var expected = Covered.Where(static c => c.Expires).Select(static c => c.Record.RecordId).ToHashSet();
        var expired = new HashSet<string>();
        await foreach (var entry in Log.ReadAsync(0, CancellationToken.None))
        {
            if (entry.IsExpired)
            {
                expired.Add(entry.RecordId);
                Assert.Equal(AuditRecordKinds.Expired, AuditJson.Deserialize(entry.Payload.Span).Kind);
            }
        }

        Assert.Equal(expected, expired);
        Assert.NotNull(report.Record);
        Assert.Equal(report.Record.Hash, (await Log.GetAsync(report.Record.Record.RecordId, CancellationToken.None))!.Hash);
        var summary = report.Record.Record.Retention!;
        Assert.Equal(expected.Count, summary.Expired);
        Assert.Equal(1, summary.Classes.Single(static c => c.Class == "hr").Expired);
        Assert.Equal(1, summary.Classes.Single(static c => c.Class == "public").Expired);
        Assert.Equal(1, summary.Classes.Single(static c => c.Class == "answers").Expired);
        Assert.Equal(2, summary.Classes.Single(static c => c.Class == AuditRetentionPolicy.DefaultClass).Expired);

        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(expected.Count, verification.Expired);
        Assert.Equal(0, verification.Unanchored);

        // The tombstone keeps its id; its document, subject and answer index rows are gone, the survivors' are not.
        Assert.Equal(AuditRecordKinds.Expired, (await Log.GetAsync("pub-old", CancellationToken.None))!.Record.Kind);
        Assert.Empty((await Log.GetDocumentAccessesAsync("doc-pub-old", new AuditPageRequest(), CancellationToken.None)).Entries);
        Assert.Empty((await Log.GetSubjectAccessesAsync("subj-pub-old", new AuditPageRequest(), CancellationToken.None)).Entries);
        Assert.Single((await Log.GetDocumentAccessesAsync("doc-pub-new", new AuditPageRequest(), CancellationToken.None)).Entries);
        Assert.Equal(["ans-new"], (await Log.GetAnswersForReceiptAsync("pub-new", CancellationToken.None)).Select(static e => e.Record.RecordId));

        // Inclusion proofs of every survivor still hold, against the old checkpoint and the retention run's one.
        foreach (var checkpoint in (await Log.GetCheckpointsAsync(CancellationToken.None)).Append(checkpoints[0]))
        {
            await foreach (var entry in Log.ReadAsync(0, CancellationToken.None))
            {
                if (entry.Sequence <= checkpoint.TreeSize && !entry.IsExpired)
                {
                    var proof = await AuditInclusionProof.BuildAsync(Log, entry.Sequence, checkpoint, CancellationToken.None);
                    Assert.Null(proof.Verify(Signer));
                }
            }
        }

        // The retention run's own checkpoint now covers late-old, so the next run expires it, and then nothing more.
        var again = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(1, again.Summary.Expired);
        Assert.Equal(AuditRecordKinds.Expired, (await Log.GetAsync("late-old", CancellationToken.None))!.Record.Kind);
        var last = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Null(last.Record);
        Assert.Equal(0, last.Summary.Expired);
        Assert.True((await Log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task ApplyRetentionAsync_MaxEntries_ExpiresTheOldestFirstAndTheRestNextRun()
    {
        var first = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test") { MaxEntries = 2 }, CancellationToken.None);

        Assert.Equal(2, first.Summary.Expired);
        Assert.Equal(AuditRecordKinds.Expired, (await Log.GetAsync("pub-old", CancellationToken.None))!.Record.Kind);
        Assert.Equal(AuditRecordKinds.Expired, (await Log.GetAsync("conf-500", CancellationToken.None))!.Record.Kind);
        Assert.Equal(AuditRecordKinds.Retrieval, (await Log.GetAsync("hr-ancient", CancellationToken.None))!.Record.Kind);
        var rest = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(Covered.Count(static c => c.Expires) - 2 + 1, rest.Summary.Expired); // + late-old, covered by the first run's checkpoint
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Covered.Count(static c => c.Expires) + 1, verification.Expired);
    }

    [Fact]
    public async Task ApplyRetentionAsync_LaterRunAfterACheckpoint_ExpiresTheNewlyCoveredAndKeepsVerifying()
    {
        await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        await Log.AppendAsync(Retrieval("after", "support", 1, "General"), CancellationToken.None);
        await Log.CheckpointAsync(CancellationToken.None);
        Clock.Now = Now.AddDays(1);

        var second = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);

        Assert.Equal(1, second.Summary.Expired);
        Assert.Equal(AuditRecordKinds.Expired, (await Log.GetAsync("late-old", CancellationToken.None))!.Record.Kind);
        Assert.Equal(AuditRecordKinds.Retrieval, (await Log.GetAsync("after", CancellationToken.None))!.Record.Kind);
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Covered.Count(static c => c.Expires) + 1, verification.Expired);

        // Appends keep chaining after retention (the writer rebuilds its state from the retention checkpoint).
        await Log.AppendAsync(Retrieval("tail", "support", 0, "General"), CancellationToken.None);
        Assert.True((await Log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task ApplyRetentionAsync_ConcurrentAppends_AllDurableAndTheChainVerifies()
    {
        var appends = Enumerable.Range(0, 200).Select(i => Task.Run(() => Log.AppendAsync(Retrieval($"concurrent-{i}", "support", 1000, "General"), CancellationToken.None))).ToArray();

        var report = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        var entries = await Task.WhenAll(appends);

        Assert.NotNull(report.Record);
        foreach (var entry in entries.Append(report.Record))
        {
            Assert.Equal(entry.Hash, (await Log.GetAsync(entry.Record.RecordId, CancellationToken.None))!.Hash);
        }

        await Log.CheckpointAsync(CancellationToken.None);
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Covered.Count + 1 + 200 + 1, verification.Records);
        Assert.Equal(report.Summary.Expired, verification.Expired);
    }

    [Fact]
    public async Task ApplyRetentionAsync_RetentionRecordInsertFails_NothingIsHalfApplied()
    {
        var before = await SnapshotAsync();
        await FailRetentionRecordInsertsAsync();

        await Assert.ThrowsAnyAsync<DbException>(() => Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));

        Assert.Equal(before, await SnapshotAsync());
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(0, verification.Expired);

        // The failed run left the writer lock free: appends go on.
        await Log.AppendAsync(Retrieval("after-failure", "support", 0, "General"), CancellationToken.None);
    }

    [Fact]
    public async Task ApplyRetentionAsync_CheckpointInsertFails_NothingIsHalfApplied()
    {
        var before = await SnapshotAsync();
        await FailCheckpointInsertsAfterARetentionRecordAsync();

        await Assert.ThrowsAnyAsync<DbException>(() => Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));

        Assert.Equal(before, await SnapshotAsync());
        await StopFailingCheckpointInsertsAsync();
        var report = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(Covered.Count(static c => c.Expires), report.Summary.Expired);
        Assert.True((await Log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task ApplyRetentionAsync_WithoutSigner_RefusesAndWritesNothing()
    {
        var unsigned = (IAuditRetention)await OpenAsync(signer: null);
        var before = await SnapshotAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => unsigned.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None));

        Assert.Equal(before, await SnapshotAsync());
        var dryRun = await unsigned.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test") { DryRun = true }, CancellationToken.None);
        Assert.Equal(Covered.Count(static c => c.Expires), dryRun.Summary.Expired);
    }

    [Fact]
    public async Task InitializeAsync_StoreFromBeforeRetention_MigratesInPlaceAndStillVerifies()
    {
        await Log.DisposeAsync();
        await RevertToSchemaBeforeRetentionAsync();

        Log = await OpenAsync(Signer);

        Assert.True((await Log.VerifyAsync(CancellationToken.None)).Ok);
        var report = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        Assert.Equal(Covered.Count(static c => c.Expires) + 1, report.Summary.Expired); // late-old: anchored on dispose
        Assert.True((await Log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task VerifyAsync_PayloadDeletedWithoutRetentionRecord_NamesTheEntry()
    {
        var run = await RunRetentionAsync();
        var victim = await StoredAsync("conf-300");

        await TombstoneAsync(victim, run.Record with { RecordId = "ret_forged" });

        var result = await Log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(victim.Sequence, result.FirstBadSequence);
        Assert.Contains("no later retention record lists it", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_PayloadDeletedInTheNameOfARealRetentionRecord_NamesTheRetentionRecord()
    {
        var run = await RunRetentionAsync();
        var victim = await StoredAsync("conf-300");

        await TombstoneAsync(victim, run.Record);

        var result = await Log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(run.Sequence, result.FirstBadSequence);
        Assert.Contains($"first difference at entry {victim.Sequence}", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_AlteredKeptLeafHash_NamesTheEntry()
    {
        await RunRetentionAsync();
        var tombstone = await StoredAsync("pub-old");

        await UpdateStoredEntryAsync(tombstone.Sequence, tombstone.RecordId, tombstone.Payload.ToArray(), (tombstone.LeafHash![0] == '0' ? "1" : "0") + tombstone.LeafHash[1..]);

        var result = await Log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(tombstone.Sequence, result.FirstBadSequence);
        Assert.Contains("kept leaf hash", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_EditedRetentionRecord_NamesIt()
    {
        var run = await RunRetentionAsync();
        var stored = await StoredAsync(run.Record.RecordId);
        var edited = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(stored.Payload.Span).Replace("\"class\":\"public\"", "\"class\":\"hr\"", StringComparison.Ordinal));
        Assert.NotEqual(stored.Payload.ToArray(), edited);

        await UpdateStoredEntryAsync(run.Sequence, run.Record.RecordId, edited, leafHash: null);

        var result = await Log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(run.Sequence, result.FirstBadSequence);
        Assert.Contains("does not match its chain hash", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_EditedTombstoneRecordId_IsCaughtByTheRetentionRecord()
    {
        var run = await RunRetentionAsync();
        var tombstone = await StoredAsync("pub-old");

        await UpdateStoredEntryAsync(tombstone.Sequence, "someone-else", AuditJson.Serialize(AuditRetention.Tombstone("someone-else", run.Record)), tombstone.LeafHash);

        var result = await Log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(run.Sequence, result.FirstBadSequence);
        Assert.Contains("record id was edited", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_TombstoneOfAnUncheckpointedEntryWithAForgedRetentionRecord_IsRejected()
    {
        var run = await RunRetentionAsync();

        // An attacker without the signing key expires a fresh entry and appends a well-formed retention record for it.
        var fresh = await Log.AppendAsync(Retrieval("fresh", "support", 1000, "General"), CancellationToken.None);
        var forged = AuditRetention.CreateRecord(run.Record.Time, "attacker", run.Record.Retention! with
        {
            Expired = 1,
            Classes = [new AuditRetentionClassSummary { Class = "public", MaxAge = "90d", Expired = 1, Ranges = [new AuditSequenceRange(fresh.Sequence, fresh.Sequence)] }],
            ExpiredIdsSha256 = IdsHash(fresh.Sequence, "fresh"),
        });
        await TombstoneAsync(await StoredAsync("fresh"), forged);
        var payload = AuditJson.Serialize(forged);
        await InsertStoredEntryAsync(new StoredAuditEntry(fresh.Sequence + 1, forged.RecordId, payload, AuditChain.Link(fresh.Hash, fresh.Sequence + 1, payload)));

        var result = await Log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(fresh.Sequence + 1, result.FirstBadSequence);
        Assert.Contains($"entry {fresh.Sequence} expired before a signed checkpoint covered it", result.Problem, StringComparison.Ordinal);
    }

    /// <summary>Parses the test policy.</summary>
    protected static AuditRetentionPolicy LoadPolicy() => RetentionFile.Parse("retention.yaml", Policy, LabelTaxonomy.Default);

    /// <summary>Creates a retrieval of one chunk per label of document <c>doc-{id}</c> about <c>subj-{id}</c>, decided <paramref name="ageDays"/> before <see cref="Now"/>.</summary>
    protected static AuditRecord Retrieval(string id, string purpose, int ageDays, params string[] labels) => new()
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

    /// <summary>Creates, initializes and tracks (for disposal) a log over this test's store.</summary>
    protected async Task<IAuditStore> OpenAsync(IAuditSigner? signer)
    {
        var log = CreateLog(signer, Clock);
        _open.Add(log);
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    private static AuditRecord Answer(string id, int ageDays) => new()
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

    private static AuditRecord Query(string id, int ageDays) => new()
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

    private static string IdsHash(long sequence, string recordId)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AuditRetention.AppendExpiredId(hasher, sequence, recordId);
        return Convert.ToHexStringLower(hasher.GetHashAndReset());
    }

    /// <summary>Runs retention once and checks the log verifies with the expected tombstones; returns the retention record.</summary>
    private async Task<AuditEntry> RunRetentionAsync()
    {
        var report = await Retention.ApplyRetentionAsync(LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Covered.Count(static c => c.Expires), verification.Expired);
        return report.Record!;
    }

    private async Task<StoredAuditEntry> StoredAsync(string recordId)
    {
        await foreach (var entry in Log.ReadAsync(0, CancellationToken.None))
        {
            if (entry.RecordId == recordId)
            {
                return entry;
            }
        }

        throw new InvalidOperationException($"{recordId} is not in the log");
    }

    /// <summary>Does by hand what retention does: keep the leaf hash, replace the payload by a tombstone naming <paramref name="run"/>, drop the index rows.</summary>
    private Task TombstoneAsync(StoredAuditEntry victim, AuditRecord run) =>
        UpdateStoredEntryAsync(victim.Sequence, victim.RecordId, AuditJson.Serialize(AuditRetention.Tombstone(victim.RecordId, run)), Convert.ToHexStringLower(AuditMerkle.LeafHash(victim.Payload.Span)));

    /// <summary>A clock the test sets by hand.</summary>
    protected sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        /// <summary>Gets or sets the time the clock reads.</summary>
        public DateTimeOffset Now { get; set; } = now;

        /// <inheritdoc />
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
