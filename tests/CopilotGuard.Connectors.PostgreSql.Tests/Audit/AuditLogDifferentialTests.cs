using System.Text;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;

namespace CopilotGuard.Connectors.PostgreSql.Tests.Audit;

/// <summary>The SQLite and PostgreSQL logs run the same chained writer: the same random records give the same stored
/// bytes, and in the same order the same sequences, chain hashes, heads and Merkle roots. A record's chain hash covers
/// only the previous hash, its sequence and its stored bytes, nothing of the store; checkpoint signatures (ECDSA, with
/// a random nonce) and checkpoint times are the only stored values that differ.</summary>
[Collection(PostgresCollection.Name)]
public sealed class AuditLogDifferentialTests(PostgresServer server) : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("copilotguard-audit-diff-").FullName;
    private EcdsaAuditSigner _signer = null!;

    public Task InitializeAsync()
    {
        _signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(_folder, "audit-checkpoint.pem"));
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _signer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    [PostgresFact]
    public async Task AppendAsync_SameRecordsInTheSameOrder_SameSequencesHashesHeadsAndMerkleRoots()
    {
        var records = RandomRecords(new Random(20261207), 250);
        await using var sqlite = await OpenSqliteAsync("ordered.db");
        await using var postgres = await OpenPostgreSqlAsync();

        // One caller queues every record before awaiting any: the queue keeps the order, the writer still commits many
        // records per transaction (group commit), with batch boundaries of its own in each store.
        var fromSqlite = await Task.WhenAll(records.Select(r => sqlite.AppendAsync(r, CancellationToken.None)).ToArray());
        var fromPostgres = await Task.WhenAll(records.Select(r => postgres.AppendAsync(r, CancellationToken.None)).ToArray());

        Assert.Equal(fromSqlite.Select(static e => (e.Sequence, e.Hash)), fromPostgres.Select(static e => (e.Sequence, e.Hash)));

        // Anchor the tail (unless the last batch did), then compare the heads and every tree size both stores signed.
        await sqlite.CheckpointAsync(CancellationToken.None);
        await postgres.CheckpointAsync(CancellationToken.None);
        var sqliteCheckpoints = (await sqlite.GetCheckpointsAsync(CancellationToken.None)).ToDictionary(static c => c.TreeSize, static c => (c.ChainHead, c.MerkleRoot));
        var postgresCheckpoints = (await postgres.GetCheckpointsAsync(CancellationToken.None)).ToDictionary(static c => c.TreeSize, static c => (c.ChainHead, c.MerkleRoot));
        Assert.Equal(fromSqlite[^1].Hash, sqliteCheckpoints[records.Length].ChainHead);
        Assert.Equal(sqliteCheckpoints[records.Length], postgresCheckpoints[records.Length]);
        foreach (var size in sqliteCheckpoints.Keys.Intersect(postgresCheckpoints.Keys))
        {
            Assert.Equal(sqliteCheckpoints[size], postgresCheckpoints[size]);
        }

        Assert.Equal(await StoredAsync(sqlite), await StoredAsync(postgres));
        await AssertVerifiesAsync(sqlite, records.Length);
        await AssertVerifiesAsync(postgres, records.Length);
    }

    [PostgresFact]
    public async Task AppendAsync_SameRecordsFromConcurrentCallers_BothVerifyWithTheSameBytesAndStoreIndependentHashes()
    {
        var records = RandomRecords(new Random(17), 250);
        await using var sqlite = await OpenSqliteAsync("concurrent.db");
        await using var postgres = await OpenPostgreSqlAsync();

        // 16 callers per log, both logs at once: each store commits its own interleaving.
        await Task.WhenAll(AppendConcurrentlyAsync(sqlite, records, 16), AppendConcurrentlyAsync(postgres, records, 16));

        await AssertVerifiesAsync(sqlite, records.Length);
        await AssertVerifiesAsync(postgres, records.Length);
        var sqliteEntries = await StoredAsync(sqlite);
        var postgresEntries = await StoredAsync(postgres);

        // The same record is stored as the same bytes in both.
        Assert.Equal(
            sqliteEntries.Select(static e => (e.RecordId, e.Payload)).Order(),
            postgresEntries.Select(static e => (e.RecordId, e.Payload)).Order());

        // The orders differ, so the hashes may; chaining either store's bytes in the other's order gives that store's
        // hashes, so nothing of the store is in a hash.
        var byId = postgresEntries.ToDictionary(static e => e.RecordId, static e => Convert.FromBase64String(e.Payload));
        var previous = AuditChain.Genesis;
        foreach (var (sequence, recordId, _, hash) in sqliteEntries)
        {
            previous = AuditChain.Link(previous, sequence, byId[recordId]);
            Assert.Equal(hash, previous);
        }
    }

    private static async Task AppendConcurrentlyAsync(IAuditStore log, AuditRecord[] records, int callers) =>
        await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            for (var i = caller; i < records.Length; i += callers)
            {
                await log.AppendAsync(records[i], CancellationToken.None);
            }
        })));

    private async Task AssertVerifiesAsync(IAuditStore log, long records)
    {
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(records, verification.Records);
        Assert.NotEmpty(await log.GetCheckpointsAsync(CancellationToken.None));
    }

    /// <summary>Every stored entry: sequence, record id, payload (base64, comparable by value) and chain hash.</summary>
    private static async Task<List<(long Sequence, string RecordId, string Payload, string Hash)>> StoredAsync(IAuditStore log)
    {
        var entries = new List<(long, string, string, string)>();
        await foreach (var entry in log.ReadAsync(0, CancellationToken.None))
        {
            entries.Add((entry.Sequence, entry.RecordId, Convert.ToBase64String(entry.Payload.Span), entry.Hash));
        }

        return entries;
    }

    private async Task<SqliteAuditLog> OpenSqliteAsync(string file)
    {
        var log = new SqliteAuditLog(Path.Combine(_folder, file), new SqliteAuditLogOptions { CheckpointEvery = 37, MaxBatchSize = 64, IndexEvery = 50 }, _signer);
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    private async Task<PostgreSqlAuditLog> OpenPostgreSqlAsync()
    {
        var log = new PostgreSqlAuditLog(server.DataSource, new PostgreSqlAuditLogOptions { Schema = server.NewSchema(), CheckpointEvery = 37, MaxBatchSize = 64 }, _signer);
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    /// <summary>Records of random size: 0 to 24 chunks, 0 to 6 data subjects each, ids and texts of 1 to 300 characters
    /// (any Unicode but U+0000, which PostgreSQL refuses), some answers bound to earlier receipts.</summary>
    private static AuditRecord[] RandomRecords(Random random, int count)
    {
        var records = new AuditRecord[count];
        for (var i = 0; i < count; i++)
        {
            var documents = random.Next(0, 8);
            records[i] = new AuditRecord
            {
                RecordId = $"r{i}-{Text(random, 40)}",
                Kind = AuditRecordKinds.Retrieval,
                Time = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.FromMinutes(random.Next(-12, 14) * 60)).AddTicks(random.NextInt64(0, TimeSpan.TicksPerDay * 300)),
                SubjectId = Text(random, 30),
                Purpose = random.Next(2) == 0 ? null : Text(random, 20),
                PolicyVersion = "v1",
                PolicyHash = new string('a', 64),
                Decision = "filtered",
                PushedFilter = Text(random, 300),
                Chunks = [.. Enumerable.Range(0, random.Next(0, 25)).Select(c => new AuditedChunk
                {
                    ChunkId = $"{c}#{Text(random, 20)}",
                    DocumentId = $"doc-{random.Next(0, documents + 1)}",
                    Version = random.Next(1, 5),
                    ContentSha256 = Convert.ToHexStringLower(random.GetItems<byte>(Enumerable.Range(0, 256).Select(static b => (byte)b).ToArray(), 32)),
                    Label = "General",
                    Score = random.NextDouble(),
                    Subjects = [.. Enumerable.Range(0, random.Next(0, 7)).Select(_ => $"cust-{random.Next(0, 50)}")],
                })],
            };
            if (i > 0 && random.Next(8) == 0)
            {
                records[i] = records[i] with
                {
                    Kind = AuditRecordKinds.Answer,
                    Chunks = [],
                    Answer = new AnswerBinding { AnswerSha256 = new string('c', 64), ReceiptIds = [records[random.Next(0, i)].RecordId] },
                };
            }
        }

        return records;
    }

    private static string Text(Random random, int maxLength)
    {
        var text = new StringBuilder();
        var length = random.Next(1, maxLength + 1);
        while (text.Length < length)
        {
            var rune = random.Next(4) switch
            {
                0 => new Rune(random.Next(0x20, 0x7F)),
                1 => new Rune(random.Next(0xA0, 0x800)),
                2 => new Rune(random.Next(0x4E00, 0x9FFF)),
                _ => new Rune(random.Next(0x1F300, 0x1F64F)),
            };
            text.Append(rune.ToString());
        }

        return text.ToString();
    }
}
