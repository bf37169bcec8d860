using System.Security.Cryptography;
using CopilotGuard.Audit;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>Edits a log that retention has run on, as an attacker with file access would, and checks that verify names the place.</summary>
public sealed class SqliteAuditRetentionTamperTests : IAsyncLifetime
{
    private readonly SqliteAuditRetentionTests _helper = new();
    private AuditEntry _run = null!;

    private SqliteAuditLog Log => _helper.Log;

    public async Task InitializeAsync()
    {
        await _helper.InitializeAsync();
        var report = await Log.ApplyRetentionAsync(SqliteAuditRetentionTests.LoadPolicy(), new AuditRetentionRun("local:test"), CancellationToken.None);
        _run = report.Record!;
        var verification = await Log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(SqliteAuditRetentionTests.Covered.Count(static c => c.Expires), verification.Expired);
    }

    public Task DisposeAsync() => _helper.DisposeAsync();

    [Fact]
    public async Task VerifyAsync_PayloadDeletedWithoutRetentionRecord_NamesTheEntry()
    {
        var victim = await StoredAsync("conf-300");
        var fakeRun = _run.Record with { RecordId = "ret_forged" };
        await TombstoneAsync(victim, fakeRun);

        var result = await Log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(victim.Sequence, result.FirstBadSequence);
        Assert.Contains("no later retention record lists it", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_PayloadDeletedInTheNameOfARealRetentionRecord_NamesTheRetentionRecord()
    {
        var victim = await StoredAsync("conf-300");
        await TombstoneAsync(victim, _run.Record);

        var result = await Log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(_run.Sequence, result.FirstBadSequence);
        Assert.Contains($"first difference at entry {victim.Sequence}", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_AlteredKeptLeafHash_NamesTheEntry()
    {
        var tombstone = await StoredAsync("pub-old");
        var altered = (tombstone.LeafHash![0] == '0' ? "1" : "0") + tombstone.LeafHash[1..];
        await _helper.ExecuteAsync("UPDATE audit_log SET leaf_hash = $leaf WHERE seq = $seq", ("$leaf", altered), ("$seq", tombstone.Sequence));

        var result = await Log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(tombstone.Sequence, result.FirstBadSequence);
        Assert.Contains("kept leaf hash", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_EditedRetentionRecord_NamesIt()
    {
        await _helper.ExecuteAsync("UPDATE audit_log SET payload = CAST(replace(CAST(payload AS TEXT), '\"class\":\"public\"', '\"class\":\"hr\"') AS BLOB) WHERE seq = $seq", ("$seq", _run.Sequence));

        var result = await Log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(_run.Sequence, result.FirstBadSequence);
        Assert.Contains("does not match its chain hash", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_EditedTombstoneRecordId_IsCaughtByTheRetentionRecord()
    {
        var tombstone = await StoredAsync("pub-old");
        var renamed = AuditJson.Serialize(AuditRetention.Tombstone("someone-else", _run.Record));
        await _helper.ExecuteAsync("UPDATE audit_log SET record_id = 'someone-else', payload = $payload WHERE seq = $seq", ("$payload", renamed), ("$seq", tombstone.Sequence));

        var result = await Log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(_run.Sequence, result.FirstBadSequence);
        Assert.Contains("record id was edited", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_TombstoneOfAnUncheckpointedEntryWithAForgedRetentionRecord_IsRejected()
    {
        // An attacker without the signing key expires a fresh entry and appends a well-formed retention record for it.
        var fresh = await Log.AppendAsync(SqliteAuditRetentionTests.Retrieval("fresh", "support", 1000, "General"), CancellationToken.None);
        var stored = await StoredAsync("fresh");
        var forged = AuditRetention.CreateRecord(_run.Record.Time, "attacker", _run.Record.Retention! with
        {
            Expired = 1,
            Classes = [new AuditRetentionClassSummary { Class = "public", MaxAge = "90d", Expired = 1, Ranges = [new AuditSequenceRange(fresh.Sequence, fresh.Sequence)] }],
            ExpiredIdsSha256 = IdsHash(fresh.Sequence, "fresh"),
        });
        await TombstoneAsync(stored, forged);
        var payload = AuditJson.Serialize(forged);
        var hash = AuditChain.Link(fresh.Hash, fresh.Sequence + 1, payload);
        await _helper.ExecuteAsync(
            "INSERT INTO audit_log (seq, record_id, time, subject_id, payload, hash) VALUES ($seq, $id, 'x', 'attacker', $payload, $hash)",
            ("$seq", fresh.Sequence + 1), ("$id", forged.RecordId), ("$payload", payload), ("$hash", hash));

        var result = await Log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(fresh.Sequence + 1, result.FirstBadSequence);
        Assert.Contains($"entry {fresh.Sequence} expired before a signed checkpoint covered it", result.Problem, StringComparison.Ordinal);
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

    /// <summary>Does by hand what retention does: keep the leaf hash, replace the payload by a tombstone naming <paramref name="run"/>.</summary>
    private Task TombstoneAsync(StoredAuditEntry victim, AuditRecord run) =>
        _helper.ExecuteAsync(
            "UPDATE audit_log SET payload = $payload, leaf_hash = $leaf WHERE seq = $seq; DELETE FROM audit_documents WHERE seq = $seq; DELETE FROM audit_subjects WHERE seq = $seq;",
            ("$payload", AuditJson.Serialize(AuditRetention.Tombstone(victim.RecordId, run))),
            ("$leaf", Convert.ToHexStringLower(AuditMerkle.LeafHash(victim.Payload.Span))),
            ("$seq", victim.Sequence));

    private static string IdsHash(long sequence, string recordId)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AuditRetention.AppendExpiredId(hasher, sequence, recordId);
        return Convert.ToHexStringLower(hasher.GetHashAndReset());
    }
}
