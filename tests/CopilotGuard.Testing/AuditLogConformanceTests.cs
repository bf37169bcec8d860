using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Audit;
using Xunit;

namespace CopilotGuard.Testing;

/// <summary>How a conformance test wants its audit log configured.</summary>
/// <param name="CheckpointEvery">Entries between checkpoints.</param>
/// <param name="CheckpointInterval">The longest time unanchored entries wait for a checkpoint.</param>
/// <param name="Signer">Signs checkpoints; <see langword="null"/> for a log without checkpoints.</param>
/// <param name="MaxBatchSize">The most records in one commit.</param>
public sealed record AuditLogSettings(int CheckpointEvery, TimeSpan CheckpointInterval, IAuditSigner? Signer, int MaxBatchSize = 512);

/// <summary>The behaviour every <see cref="IAuditStore"/> must show against its real storage: appends, group commit,
/// all-or-nothing batches, several writers on one store, signed checkpoints, indexes and paging, and verification that
/// names the first bad entry or checkpoint for every kind of tampering.</summary>
/// <remarks>Subclass it in a connector's test project: <see cref="CreateLog"/> returns a log over one store that is
/// fresh for each test instance (every call in one test shares it), and the raw operations edit that store behind the
/// log's back, as an attacker with write access to the storage would.</remarks>
public abstract class AuditLogConformanceTests : IAsyncLifetime
{
    /// <summary>Checkpoints in the tamper tests: at 5, 10 and 15; entries 16 and 17 are after the last one.</summary>
    private const int TamperEvery = 5;
    private const int TamperEntries = 17;

    private readonly DirectoryInfo _keys = Directory.CreateTempSubdirectory("copilotguard-audit-keys-");
    private readonly List<IAuditStore> _open = [];

    /// <summary>Creates the suite with a fresh checkpoint key.</summary>
    protected AuditLogConformanceTests() => Signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(_keys.FullName, "audit-checkpoint.pem"));

    /// <summary>Gets the key that signs checkpoints.</summary>
    protected EcdsaAuditSigner Signer { get; }

    /// <summary>Creates a log (not yet initialized) over this test's store.</summary>
    protected abstract IAuditStore CreateLog(AuditLogSettings settings);

    /// <summary>Gets how many transactions a log has committed, or <see langword="null"/> when the log does not say.</summary>
    protected virtual long? CommitsOf(IAuditStore log) => null;

    /// <summary>Writes an entry's row exactly as given (record id, payload, chain hash) at its sequence, inserting it
    /// or overwriting the row already there; other columns may hold anything.</summary>
    protected abstract Task WriteStoredEntryAsync(StoredAuditEntry entry);

    /// <summary>Deletes the entry rows from <paramref name="fromSequence"/> to <paramref name="toSequence"/> (inclusive), leaving index rows.</summary>
    protected abstract Task DeleteStoredEntriesAsync(long fromSequence, long toSequence);

    /// <summary>Replaces the stored signature of the checkpoint at a tree size.</summary>
    protected abstract Task WriteCheckpointSignatureAsync(long treeSize, string signature);

    /// <summary>Deletes the data-subject index rows of an entry.</summary>
    protected abstract Task DeleteSubjectIndexRowsAsync(long sequence);

    /// <summary>Makes every later commit that holds the record <paramref name="recordId"/> fail inside the storage (a trigger, say).</summary>
    protected abstract Task FailCommitsContainingAsync(string recordId);

    /// <inheritdoc />
    public virtual Task InitializeAsync() => Task.CompletedTask;

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
    public async Task AppendAsync_ThenGetAsync_ReturnsTheEntryAsStored()
    {
        var log = await OpenAsync();
        var record = Record("r1", subjects: ["cust-1"]) with { Purpose = "support", ConversationId = "c-1" };

        var entry = await log.AppendAsync(record, CancellationToken.None);

        Assert.Equal(1, entry.Sequence);
        Assert.Equal(AuditChain.Link(AuditChain.Genesis, 1, AuditJson.Serialize(record)), entry.Hash);
        var stored = await log.GetAsync("r1", CancellationToken.None);
        Assert.NotNull(stored);
        Assert.Equal((1L, entry.Hash), (stored.Sequence, stored.Hash));
        Assert.Equal(AuditJson.Serialize(record), AuditJson.Serialize(stored.Record));
        Assert.Null(await log.GetAsync("unknown", CancellationToken.None));
    }

    [Fact]
    public async Task AppendAsync_BeforeInitialize_ThrowsAndWritesNothing()
    {
        var log = Track(CreateLog(Settings()));

        await Assert.ThrowsAsync<InvalidOperationException>(() => log.AppendAsync(Record("r1"), CancellationToken.None));

        await log.InitializeAsync(CancellationToken.None);
        Assert.Null(await log.GetAsync("r1", CancellationToken.None));
    }

    [Fact]
    public async Task CheckpointAsync_BeforeInitialize_ThrowsInsteadOfWaiting()
    {
        var log = Track(CreateLog(Settings()));

        // The token only keeps a log that queues the request with no writer from hanging the run.
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAsync<InvalidOperationException>(() => log.CheckpointAsync(guard.Token));
    }

    [Fact]
    public async Task AppendAsync_AfterDispose_ThrowsObjectDisposed()
    {
        var log = await OpenAsync();
        await log.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.AppendAsync(Record("r1"), CancellationToken.None));
    }

    [Fact]
    public async Task AppendAsync_2000ConcurrentCallers_AreGroupCommittedGaplessAndVerify()
    {
        const int count = 2000;
        var log = await OpenAsync(checkpointEvery: 250);

        var entries = await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(() => log.AppendAsync(Record($"r{i}", subjects: [$"cust-{i % 7}"]), CancellationToken.None))));

        Assert.Equal(Enumerable.Range(1, count).Select(static i => (long)i), entries.Select(static e => e.Sequence).Order());
        if (CommitsOf(log) is { } commits)
        {
            Assert.True(commits < count, $"{commits} commits for {count} appends: no batching happened");
        }

        // Every caller's entry is what a fresh reader sees, and the returned hashes form one chain.
        var stored = new Dictionary<long, StoredAuditEntry>();
        await foreach (var entry in log.ReadAsync(0, CancellationToken.None))
        {
            stored[entry.Sequence] = entry;
        }

        foreach (var entry in entries)
        {
            Assert.Equal((entry.Record.RecordId, entry.Hash), (stored[entry.Sequence].RecordId, stored[entry.Sequence].Hash));
        }

        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(count, verification.Records);
        Assert.InRange(verification.Checkpoints, 1, count / 250);
        Assert.Equal(entries.Single(static e => e.Sequence == count).Hash, verification.Head);
        Assert.Equal(count / 7 + 1, (await log.GetSubjectAccessesAsync("cust-0", new AuditPageRequest(AuditPageRequest.MaxLimit), CancellationToken.None)).Entries.Count);
    }

    [Fact]
    public async Task AppendAsync_MaxBatchSizeOne_CommitsEveryRecordAlone()
    {
        var log = await OpenAsync(maxBatchSize: 1, signer: false);

        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => log.AppendAsync(Record($"r{i}"), CancellationToken.None))));

        if (CommitsOf(log) is { } commits)
        {
            Assert.Equal(40, commits);
        }

        Assert.True((await log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [Fact]
    public async Task AppendAsync_CommitFails_EveryWaiterInTheBatchFailsAndNothingOfItIsStored()
    {
        var log = await OpenAsync();
        await log.AppendAsync(Record("before"), CancellationToken.None);
        await FailCommitsContainingAsync("boom");
        var ids = Enumerable.Range(0, 200).Select(static i => i == 100 ? "boom" : $"r{i}").ToArray();

        var outcomes = await Task.WhenAll(ids.Select(id => Task.Run(async () =>
        {
            try
            {
                return (Id: id, Entry: (AuditEntry?)await log.AppendAsync(Record(id), CancellationToken.None));
            }
            catch (Exception exception) when (exception is not ObjectDisposedException)
            {
                return (Id: id, Entry: null);
            }
        })));

        Assert.Null(outcomes.Single(static o => o.Id == "boom").Entry);
        foreach (var (id, entry) in outcomes)
        {
            var stored = await log.GetAsync(id, CancellationToken.None);
            Assert.True(entry is not null == stored is not null, $"{id}: the caller {(entry is null ? "failed" : "succeeded")} but the record is {(stored is null ? "absent" : "stored")}");
            Assert.Equal(entry?.Sequence, stored?.Sequence);
        }

        var after = await log.AppendAsync(Record("after"), CancellationToken.None);
        Assert.Equal(outcomes.Count(static o => o.Entry is not null) + 2, after.Sequence);
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
    }

    [Fact]
    public async Task AppendAsync_DuplicateRecordId_FailsAndTheLogStaysIntact()
    {
        var log = await OpenAsync();
        await log.AppendAsync(Record("r1"), CancellationToken.None);

        await Assert.ThrowsAnyAsync<Exception>(() => log.AppendAsync(Record("r1"), CancellationToken.None));

        Assert.Equal(2, (await log.AppendAsync(Record("r2"), CancellationToken.None)).Sequence);
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(2, verification.Records);
    }

    [Fact]
    public async Task AppendAsync_TwoLogsOnOneStore_KeepOneChain()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();

        var entries = await Task.WhenAll(Enumerable.Range(0, 120).Select(i => Task.Run(() => (i % 2 == 0 ? first : second).AppendAsync(Record($"r{i}"), CancellationToken.None))));

        Assert.Equal(Enumerable.Range(1, 120).Select(static i => (long)i), entries.Select(static e => e.Sequence).Order());
        var verification = await second.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(120, verification.Records);
        Assert.True(verification.Checkpoints >= 1, "no checkpoint was written by either writer");
    }

    [Fact]
    public async Task AppendAsync_EveryNRecords_WritesSignedCheckpointsThatVerify()
    {
        var log = await OpenAsync(checkpointEvery: 10);
        for (var i = 0; i < 25; i++)
        {
            await log.AppendAsync(Record($"r{i}"), CancellationToken.None);
        }

        var checkpoints = await log.GetCheckpointsAsync(CancellationToken.None);
        Assert.Equal([10L, 20L], checkpoints.Select(static c => c.TreeSize));
        Assert.All(checkpoints, c => Assert.True(c.IsSignedBy(Signer)));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(2, verification.Checkpoints);
        Assert.Equal(5, verification.Unanchored);
    }

    [Fact]
    public async Task CheckpointAsync_UnanchoredEntries_WritesOneThatCoversThem()
    {
        var log = await OpenAsync(checkpointEvery: 1000);
        var last = await log.AppendAsync(Record("r1"), CancellationToken.None);
        last = await log.AppendAsync(Record("r2"), CancellationToken.None);

        var checkpoint = await log.CheckpointAsync(CancellationToken.None);

        Assert.NotNull(checkpoint);
        Assert.Equal((2L, last.Hash), (checkpoint.TreeSize, checkpoint.ChainHead));
        Assert.True(checkpoint.IsSignedBy(Signer));
        Assert.Null(await log.CheckpointAsync(CancellationToken.None));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(checkpoint.MerkleRoot, verification.MerkleRoot);
        Assert.Equal(0, verification.Unanchored);
    }

    [Fact]
    public async Task CheckpointAsync_NoSigner_WritesNone()
    {
        var log = await OpenAsync(checkpointEvery: 1, signer: false);
        await log.AppendAsync(Record("r1"), CancellationToken.None);

        Assert.Null(await log.CheckpointAsync(CancellationToken.None));
        Assert.Empty(await log.GetCheckpointsAsync(CancellationToken.None));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(1, verification.Unanchored);
    }

    [Fact]
    public async Task VerifyAsync_CheckpointsButNoKey_FailsNamingTheFirstCheckpoint()
    {
        var log = await OpenAsync(checkpointEvery: 2);
        for (var i = 0; i < 4; i++)
        {
            await log.AppendAsync(Record($"r{i}"), CancellationToken.None);
        }

        var keyless = await OpenAsync(signer: false);
        var verification = await keyless.VerifyAsync(CancellationToken.None);

        Assert.False(verification.Ok);
        Assert.Equal(2, verification.FirstBadCheckpoint);
    }

    [Fact]
    public async Task DisposeAsync_UnanchoredTail_IsCheckpointed()
    {
        await using (var log = CreateLog(Settings(checkpointEvery: 1000)))
        {
            await log.InitializeAsync(CancellationToken.None);
            await log.AppendAsync(Record("r1"), CancellationToken.None);
            await log.AppendAsync(Record("r2"), CancellationToken.None);
        }

        var reopened = await OpenAsync();
        var verification = await reopened.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(0, verification.Unanchored);
        Assert.Equal(2, Assert.Single(await reopened.GetCheckpointsAsync(CancellationToken.None)).TreeSize);
    }

    [Fact]
    public async Task WriteLoop_AfterTheInterval_CheckpointsAnIdleTail()
    {
        var log = await OpenAsync(checkpointEvery: 1000, interval: TimeSpan.FromMilliseconds(50));
        await log.AppendAsync(Record("r1"), CancellationToken.None);

        IReadOnlyList<AuditCheckpoint> checkpoints = [];
        for (var attempt = 0; attempt < 400 && checkpoints.Count == 0; attempt++)
        {
            await Task.Delay(50);
            checkpoints = await log.GetCheckpointsAsync(CancellationToken.None);
        }

        Assert.Equal(1, Assert.Single(checkpoints).TreeSize);
    }

    [Fact]
    public async Task VerifyAsync_EmptyLog_IsOkWithNoHead()
    {
        var log = await OpenAsync();

        var verification = await log.VerifyAsync(CancellationToken.None);

        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal((0L, string.Empty), (verification.Records, verification.Head));
    }

    [Fact]
    public async Task ReadAsync_AfterASequence_StreamsTheRestInOrder()
    {
        var log = await OpenAsync();
        for (var i = 1; i <= 6; i++)
        {
            await log.AppendAsync(Record($"r{i}"), CancellationToken.None);
        }

        var rest = new List<StoredAuditEntry>();
        await foreach (var entry in log.ReadAsync(4, CancellationToken.None))
        {
            rest.Add(entry);
        }

        Assert.Equal([5L, 6L], rest.Select(static e => e.Sequence));
        Assert.Equal(["r5", "r6"], rest.Select(static e => e.RecordId));
        Assert.Equal(AuditJson.Serialize(Record("r5")), rest[0].Payload.ToArray());
    }

    [Fact]
    public async Task GetSubjectAccessesAsync_ManyRecords_PagesWithoutGapsOrRepeats()
    {
        var log = await OpenAsync();
        for (var i = 0; i < 23; i++)
        {
            await log.AppendAsync(Record($"r{i}", subjects: i % 2 == 0 ? ["cust-1", "cust-2", "cust-1"] : ["cust-2"]), CancellationToken.None);
        }

        Assert.Equal(Enumerable.Range(0, 23).Where(static i => i % 2 == 0).Select(static i => $"r{i}"), await AllPagesAsync((after, limit) => log.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(limit, after), CancellationToken.None), 5));
        Assert.Equal(23, (await log.GetSubjectAccessesAsync("cust-2", new AuditPageRequest(AuditPageRequest.MaxLimit), CancellationToken.None)).Entries.Count);
        Assert.Empty((await log.GetSubjectAccessesAsync("cust-3", new AuditPageRequest(), CancellationToken.None)).Entries);
    }

    [Fact]
    public async Task GetDocumentAccessesAsync_SharedDocument_PagesEveryRetrievalThatReturnedIt()
    {
        var log = await OpenAsync();
        for (var i = 0; i < 12; i++)
        {
            await log.AppendAsync(Record($"r{i}", documentId: i % 3 == 0 ? "doc-shared" : null), CancellationToken.None);
        }

        Assert.Equal(["r0", "r3", "r6", "r9"], await AllPagesAsync((after, limit) => log.GetDocumentAccessesAsync("doc-shared", new AuditPageRequest(limit, after), CancellationToken.None), 3));
        Assert.Equal(["r1"], (await log.GetDocumentAccessesAsync("doc-r1", new AuditPageRequest(), CancellationToken.None)).Entries.Select(static e => e.Record.RecordId));
        var last = await log.GetDocumentAccessesAsync("doc-shared", new AuditPageRequest(4), CancellationToken.None);
        Assert.Null(last.NextAfterSequence);
    }

    [Fact]
    public async Task GetAnswersForReceiptAsync_AnswersBoundToReceipts_ListsEachAnswerOnce()
    {
        var log = await OpenAsync();
        await log.AppendAsync(Record("r1"), CancellationToken.None);
        await log.AppendAsync(Record("r2"), CancellationToken.None);
        await log.AppendAsync(Answer("a1", "r1", "r2"), CancellationToken.None);
        await log.AppendAsync(Answer("a2", "r1", "r1"), CancellationToken.None);

        Assert.Equal(["a1", "a2"], (await log.GetAnswersForReceiptAsync("r1", CancellationToken.None)).Select(static e => e.Record.RecordId));
        Assert.Equal(["a1"], (await log.GetAnswersForReceiptAsync("r2", CancellationToken.None)).Select(static e => e.Record.RecordId));
        Assert.Empty(await log.GetAnswersForReceiptAsync("r3", CancellationToken.None));
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
    }

    [Fact]
    public async Task GetSubjectAccessesAsync_BadPageRequest_ThrowsNamingTheArgument()
    {
        var log = await OpenAsync();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => log.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(0), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => log.GetSubjectAccessesAsync("cust-1", new AuditPageRequest(AuditPageRequest.MaxLimit + 1), CancellationToken.None));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => log.GetDocumentAccessesAsync(string.Empty, new AuditPageRequest(), CancellationToken.None));
    }

    [Fact]
    public async Task VerifyAsync_EditedPayload_NamesTheEntry()
    {
        var log = await OpenTamperLogAsync();
        var entry = await StoredAsync(log, 7);

        await WriteStoredEntryAsync(entry with { Payload = Edit(entry.Payload, "\"bob\"", "\"eve\"") });

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(7, result.FirstBadSequence);
        Assert.Contains("entry 7", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_EditedPayloadWithRecomputedChain_IsCaughtByTheNextCheckpoint()
    {
        var log = await OpenTamperLogAsync();

        await RewriteChainFromAsync(log, 7, payload => Edit(payload, "\"bob\"", "\"eve\""));

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(10, result.FirstBadCheckpoint);
        Assert.Equal(6, result.FirstBadSequence);
        Assert.Contains("entries 6..10", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_DeletedEntry_NamesTheMissingSequence()
    {
        var log = await OpenTamperLogAsync();

        await DeleteStoredEntriesAsync(4, 4);

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(4, result.FirstBadSequence);
        Assert.Contains("missing", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_SwappedEntries_NamesTheFirst()
    {
        var log = await OpenTamperLogAsync();

        await SwapAsync(log, 3, 4);

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(3, result.FirstBadSequence);
    }

    [Fact]
    public async Task VerifyAsync_InsertedEntry_NamesThePlace()
    {
        var log = await OpenTamperLogAsync();
        var eighth = await StoredAsync(log, 8);

        await InsertAsync(log, eighth with { Sequence = 9, RecordId = "forged", Payload = Edit(eighth.Payload, "\"r8\"", "\"forged\"") });

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(9, result.FirstBadSequence);
    }

    [Fact]
    public async Task VerifyAsync_TruncatedBelowACheckpoint_ReportsTruncation()
    {
        var log = await OpenTamperLogAsync();

        await DeleteStoredEntriesAsync(13, TamperEntries);

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(15, result.FirstBadCheckpoint);
        Assert.Equal(13, result.FirstBadSequence);
        Assert.Contains("truncated", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_CheckpointWithWrongSignature_NamesTheCheckpoint()
    {
        var log = await OpenTamperLogAsync();
        var checkpoints = await log.GetCheckpointsAsync(CancellationToken.None);

        await WriteCheckpointSignatureAsync(10, checkpoints.Single(static c => c.TreeSize == 5).Signature);

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(10, result.FirstBadCheckpoint);
        Assert.Contains("signature", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_CheckpointSignedByAnotherKey_NamesTheCheckpoint()
    {
        var log = await OpenTamperLogAsync();
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var checkpoint = (await log.GetCheckpointsAsync(CancellationToken.None))[0];

        await WriteCheckpointSignatureAsync(5, Convert.ToBase64String(forger.SignData(Encoding.UTF8.GetBytes(checkpoint.SignedText), HashAlgorithmName.SHA256)));

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(5, result.FirstBadCheckpoint);
    }

    [Fact]
    public async Task VerifyAsync_RemovedIndexRow_NamesTheEntry()
    {
        var log = await OpenTamperLogAsync();

        await DeleteSubjectIndexRowsAsync(11);

        var result = await log.VerifyAsync(CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Equal(11, result.FirstBadSequence);
        Assert.Contains("index", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuildAsync_EntryUnderACheckpoint_ProofVerifiesOfflineAndFailsWhenMoved()
    {
        var log = await OpenTamperLogAsync();
        var checkpoint = (await log.GetCheckpointsAsync(CancellationToken.None))[^1];
        using var verifier = EcdsaAuditSigner.FromPublicKey(Signer.PublicKeyPem);

        var proof = await AuditInclusionProof.BuildAsync(log, 13, checkpoint, CancellationToken.None);

        Assert.Equal("r13", proof.RecordId);
        Assert.Null(proof.Verify(verifier));
        Assert.NotNull((proof with { Sequence = 12 }).Verify(verifier));
        Assert.NotNull((proof with { Record = Convert.ToBase64String("{}"u8) }).Verify(verifier));
    }

    /// <summary>Property: for random single tamperings (a flipped byte, a swap, a deletion, a payload rewritten with every
    /// later chain hash recomputed), verification names exactly the place a simple oracle predicts; after undoing the
    /// tampering the log verifies again.</summary>
    [Fact]
    public async Task VerifyAsync_RandomTampering_NamesWhatTheOraclePredicts()
    {
        var log = await OpenTamperLogAsync();
        var original = await StoredEntriesAsync(log);
        var random = new Random(90210);
        for (var round = 0; round < 48; round++)
        {
            var kind = round % 4;
            var at = random.Next(1, TamperEntries + 1);
            var entry = original[at - 1];
            (long? Sequence, long? Checkpoint) expected;
            switch (kind)
            {
                case 0:
                    var bytes = entry.Payload.ToArray();
                    bytes[random.Next(bytes.Length)] ^= (byte)random.Next(1, 256);
                    await WriteStoredEntryAsync(entry with { Payload = bytes });
                    expected = (at, null);
                    break;
                case 1:
                    var other = random.Next(1, TamperEntries);
                    other = other >= at ? other + 1 : other;
                    await SwapAsync(log, at, other);
                    expected = (Math.Min(at, other), null);
                    break;
                case 2:
                    await DeleteStoredEntriesAsync(at, at);
                    // Dropping the newest entry leaves a shorter, valid chain: only a checkpoint or a receipt held elsewhere shows it.
                    expected = at == TamperEntries ? (null, null) : (at, null);
                    break;
                default:
                    await RewriteChainFromAsync(log, at, payload => Edit(payload, "\"bob\"", "\"mallory\""));
                    // Caught by the first checkpoint at or after the edit, naming the entries since the one before;
                    // an edit after the last checkpoint is protected by the chain alone and is not detectable.
                    var covering = (at + TamperEvery - 1) / TamperEvery * TamperEvery;
                    expected = covering <= TamperEntries / TamperEvery * TamperEvery ? (covering - TamperEvery + 1, covering) : (null, null);
                    break;
            }

            var result = await log.VerifyAsync(CancellationToken.None);
            Assert.True((expected.Sequence is null) == result.Ok, $"round {round} (kind {kind}, entry {at}): {result.Problem ?? "verified"}");
            Assert.True(expected.Sequence == result.FirstBadSequence && expected.Checkpoint == result.FirstBadCheckpoint, $"round {round} (kind {kind}, entry {at}): expected entry {expected.Sequence} / checkpoint {expected.Checkpoint}, got {result.FirstBadSequence} / {result.FirstBadCheckpoint}: {result.Problem}");

            await RestoreAsync(original);
            var restored = await log.VerifyAsync(CancellationToken.None);
            Assert.True(restored.Ok, $"round {round}: after undoing, {restored.Problem}");
        }
    }

    /// <summary>Creates a record of one chunk of document <c>doc-{id}</c> (or <paramref name="documentId"/>) for <c>bob</c>.</summary>
    public static AuditRecord Record(string id, ImmutableArray<string>? subjects = null, string? documentId = null) => new()
    {
        RecordId = id,
        Kind = AuditRecordKinds.Retrieval,
        Time = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
        SubjectId = "bob",
        PolicyVersion = "v1",
        PolicyHash = new string('a', 64),
        Decision = "filtered",
        Chunks = [new AuditedChunk { ChunkId = $"{documentId ?? $"doc-{id}"}#{id}", DocumentId = documentId ?? $"doc-{id}", Version = 1, ContentSha256 = new string('b', 64), Label = "General", Score = 0.5, Subjects = subjects ?? [] }],
    };

    /// <summary>Creates an answer record bound to receipts.</summary>
    public static AuditRecord Answer(string id, params string[] receipts) => Record(id) with
    {
        Kind = AuditRecordKinds.Answer,
        Chunks = [],
        Answer = new AnswerBinding { AnswerSha256 = new string('c', 64), ReceiptIds = [.. receipts] },
    };

    /// <summary>Creates, initializes and tracks (for disposal) a log over this test's store.</summary>
    protected async Task<IAuditStore> OpenAsync(int checkpointEvery = 5, TimeSpan? interval = null, bool signer = true, int maxBatchSize = 512)
    {
        var log = Track(CreateLog(Settings(checkpointEvery, interval, signer, maxBatchSize)));
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    private AuditLogSettings Settings(int checkpointEvery = 5, TimeSpan? interval = null, bool signer = true, int maxBatchSize = 512) =>
        new(checkpointEvery, interval ?? TimeSpan.FromHours(1), signer ? Signer : null, maxBatchSize);

    private IAuditStore Track(IAuditStore log)
    {
        _open.Add(log);
        return log;
    }

    /// <summary>Opens a log with entries r1..r17 about <c>cust-1</c>, checkpointed at 5, 10 and 15.</summary>
    private async Task<IAuditStore> OpenTamperLogAsync()
    {
        var log = await OpenAsync(checkpointEvery: TamperEvery);
        for (var i = 1; i <= TamperEntries; i++)
        {
            await log.AppendAsync(Record($"r{i}", subjects: ["cust-1"]), CancellationToken.None);
        }

        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal([5L, 10L, 15L], (await log.GetCheckpointsAsync(CancellationToken.None)).Select(static c => c.TreeSize));
        return log;
    }

    private static async Task<List<StoredAuditEntry>> StoredEntriesAsync(IAuditReader log)
    {
        var entries = new List<StoredAuditEntry>();
        await foreach (var entry in log.ReadAsync(0, CancellationToken.None))
        {
            entries.Add(entry);
        }

        return entries;
    }

    private static async Task<StoredAuditEntry> StoredAsync(IAuditReader log, long sequence) =>
        (await StoredEntriesAsync(log)).Single(e => e.Sequence == sequence);

    private static async Task<List<string>> AllPagesAsync(Func<long, int, Task<AuditPage>> read, int limit)
    {
        var seen = new List<string>();
        long? after = 0;
        while (after is { } cursor)
        {
            var page = await read(cursor, limit);
            Assert.InRange(page.Entries.Count, 1, limit);
            Assert.True(page.NextAfterSequence is null || (page.Entries.Count == limit && page.NextAfterSequence == page.Entries[^1].Sequence), "a page that is not the last must be full and continue after its last entry");
            seen.AddRange(page.Entries.Select(static e => e.Record.RecordId));
            after = page.NextAfterSequence;
        }

        return seen;
    }

    private static byte[] Edit(ReadOnlyMemory<byte> payload, string from, string to) =>
        Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload.Span).Replace(from, to, StringComparison.Ordinal));

    private async Task SwapAsync(IAuditReader log, long first, long second)
    {
        var a = await StoredAsync(log, first);
        var b = await StoredAsync(log, second);
        await DeleteStoredEntriesAsync(first, first);
        await DeleteStoredEntriesAsync(second, second);
        await WriteStoredEntryAsync(a with { Sequence = second });
        await WriteStoredEntryAsync(b with { Sequence = first });
    }

    /// <summary>Shifts the entries from the forged one's sequence on up by one and writes the forged entry in the gap.</summary>
    private async Task InsertAsync(IAuditReader log, StoredAuditEntry forged)
    {
        var later = (await StoredEntriesAsync(log)).Where(e => e.Sequence >= forged.Sequence).ToList();
        await DeleteStoredEntriesAsync(forged.Sequence, long.MaxValue);
        await WriteStoredEntryAsync(forged);
        foreach (var entry in later)
        {
            await WriteStoredEntryAsync(entry with { Sequence = entry.Sequence + 1 });
        }
    }

    /// <summary>Rewrites one payload and recomputes every later chain hash, as an attacker without the signing key can.</summary>
    private async Task RewriteChainFromAsync(IAuditReader log, long from, Func<ReadOnlyMemory<byte>, byte[]> edit)
    {
        var entries = await StoredEntriesAsync(log);
        var previous = from == 1 ? AuditChain.Genesis : entries[(int)from - 2].Hash;
        foreach (var entry in entries.Where(e => e.Sequence >= from))
        {
            var payload = entry.Sequence == from ? edit(entry.Payload) : entry.Payload.ToArray();
            previous = AuditChain.Link(previous, entry.Sequence, payload);
            await WriteStoredEntryAsync(entry with { Payload = payload, Hash = previous });
        }
    }

    private async Task RestoreAsync(List<StoredAuditEntry> original)
    {
        await DeleteStoredEntriesAsync(1, long.MaxValue);
        foreach (var entry in original)
        {
            await WriteStoredEntryAsync(entry);
        }
    }
}
