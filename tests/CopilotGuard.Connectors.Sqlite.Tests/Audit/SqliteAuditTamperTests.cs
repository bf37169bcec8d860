using CopilotGuard.Audit;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>Edits the log file behind the log's back, as an attacker with file access would, and checks that verify names the place.</summary>
public sealed class SqliteAuditTamperTests : IAsyncLifetime
{
    private readonly SqliteAuditLogTests _helper = new();
    private SqliteAuditLog _log = null!;

    public async Task InitializeAsync()
    {
        // Checkpoints at 5, 10, 15; entries 16-17 are after the last checkpoint.
        _log = await _helper.OpenAsync(checkpointEvery: 5);
        for (var i = 1; i <= 17; i++)
        {
            await _log.AppendAsync(SqliteAuditLogTests.Record($"r{i}", subjects: ["cust-1"]), CancellationToken.None);
        }

        Assert.True((await _log.VerifyAsync(CancellationToken.None)).Ok);
    }

    public async Task DisposeAsync()
    {
        await _log.DisposeAsync();
        _helper.Dispose();
    }

    [Fact]
    public async Task VerifyAsync_EditedPayload_NamesTheEntry()
    {
        await _helper.ExecuteAsync("UPDATE audit_log SET payload = CAST(replace(CAST(payload AS TEXT), '\"bob\"', '\"eve\"') AS BLOB) WHERE seq = 7");

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(7, result.FirstBadSequence);
        Assert.Contains("entry 7", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_EditedPayloadWithRecomputedChain_IsCaughtByTheNextCheckpoint()
    {
        await RewriteChainFromAsync(7, payload => payload.Replace("\"bob\"", "\"eve\"", StringComparison.Ordinal));

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(10, result.FirstBadCheckpoint);
        Assert.Equal(6, result.FirstBadSequence);
        Assert.Contains("entries 6..10", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_DeletedEntry_NamesTheMissingSequence()
    {
        await _helper.ExecuteAsync("DELETE FROM audit_log WHERE seq = 4");

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(4, result.FirstBadSequence);
        Assert.Contains("missing", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_SwappedEntries_NamesTheFirst()
    {
        await _helper.ExecuteAsync("""
            UPDATE audit_log SET seq = -1 WHERE seq = 3;
            UPDATE audit_log SET seq = 3 WHERE seq = 4;
            UPDATE audit_log SET seq = 4 WHERE seq = -1;
            """);

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(3, result.FirstBadSequence);
    }

    [Fact]
    public async Task VerifyAsync_InsertedEntry_NamesThePlace()
    {
        await _helper.ExecuteAsync("""
            UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 9;
            UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1009;
            INSERT INTO audit_log (seq, record_id, time, subject_id, payload, hash)
              SELECT 9, 'forged', time, subject_id, CAST(replace(CAST(payload AS TEXT), '"r8"', '"forged"') AS BLOB), hash FROM audit_log WHERE seq = 8;
            """);

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(9, result.FirstBadSequence);
    }

    [Fact]
    public async Task VerifyAsync_TruncatedBelowACheckpoint_ReportsTruncation()
    {
        await _helper.ExecuteAsync("DELETE FROM audit_log WHERE seq > 12");

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(15, result.FirstBadCheckpoint);
        Assert.Equal(13, result.FirstBadSequence);
        Assert.Contains("truncated", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_CheckpointWithWrongSignature_NamesTheCheckpoint()
    {
        await _helper.ExecuteAsync("UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE tree_size = 5) WHERE tree_size = 10");

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(10, result.FirstBadCheckpoint);
        Assert.Contains("signature", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAsync_CheckpointSignedByAnotherKey_NamesTheCheckpoint()
    {
        using var forger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var checkpoint = (await _log.GetCheckpointsAsync(CancellationToken.None))[0];
        var forged = Convert.ToBase64String(forger.SignData(System.Text.Encoding.UTF8.GetBytes(checkpoint.SignedText), System.Security.Cryptography.HashAlgorithmName.SHA256));
        await _helper.ExecuteAsync($"UPDATE audit_checkpoints SET signature = '{forged}' WHERE tree_size = 5");

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(5, result.FirstBadCheckpoint);
    }

    [Fact]
    public async Task VerifyAsync_RemovedIndexRow_NamesTheEntry()
    {
        await _helper.ExecuteAsync("DELETE FROM audit_subjects WHERE seq = 11");

        var result = await _log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(11, result.FirstBadSequence);
        Assert.Contains("index", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuildAsync_EntryUnderACheckpoint_ProofVerifiesOfflineAndFailsWhenMoved()
    {
        var checkpoint = (await _log.GetCheckpointsAsync(CancellationToken.None))[^1];
        using var verifier = EcdsaAuditSigner.FromPublicKey(_helper.Signer.PublicKeyPem);

        var proof = await AuditInclusionProof.BuildAsync(_log, 13, checkpoint, CancellationToken.None);

        Assert.Equal("r13", proof.RecordId);
        Assert.Null(proof.Verify(verifier));
        Assert.NotNull((proof with { Sequence = 12 }).Verify(verifier));
        Assert.NotNull((proof with { Record = Convert.ToBase64String("{}"u8) }).Verify(verifier));
    }

    /// <summary>Rewrites payloads from an entry on and recomputes every later chain hash, as an attacker without the signing key can.</summary>
    private async Task RewriteChainFromAsync(long from, Func<string, string> edit)
    {
        var entries = new List<StoredAuditEntry>();
        await foreach (var entry in _log.ReadAsync(0, CancellationToken.None))
        {
            entries.Add(entry);
        }

        var previous = entries[(int)from - 2].Hash;
        foreach (var entry in entries.Where(e => e.Sequence >= from))
        {
            var payload = entry.Sequence == from ? System.Text.Encoding.UTF8.GetBytes(edit(System.Text.Encoding.UTF8.GetString(entry.Payload.Span))) : entry.Payload.ToArray();
            previous = AuditChain.Link(previous, entry.Sequence, payload);
            await _helper.ExecuteAsync($"UPDATE audit_log SET payload = X'{Convert.ToHexString(payload)}', hash = '{previous}' WHERE seq = {entry.Sequence}");
        }
    }
}
