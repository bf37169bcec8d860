using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Server.Tests.PostgreSql;

namespace CopilotGuard.Server.Tests;

public abstract class AuditTests(StoreServerFixture server)
{
    [StoreTheory]
    [InlineData("carol", null)]
    [InlineData("bob", null)]
    [InlineData("bob", "ticket-agent")]
    [InlineData("dana", null)]
    public async Task Retrieve_EveryResponse_HasAMatchingDurableAuditRecord(string user, string? agent)
    {
        var (receiptId, chunks) = await server.RetrieveAsync(user, "POS terminal outage and asthma notes", agent: agent, top: 8);

        var entry = await server.Runtime.Audit.GetAsync(receiptId, CancellationToken.None);

        Assert.NotNull(entry);
        var record = entry.Record;
        Assert.Equal(user, record.SubjectId);
        Assert.Equal(agent, record.ActorId);
        Assert.Equal("internal", record.Destination);
        Assert.Equal(server.Runtime.Policy.Version, record.PolicyVersion);
        Assert.Equal(server.Runtime.Policy.Sha256, record.PolicyHash);
        Assert.Equal(server.StoreName, record.Store);
        Assert.Equal(chunks.Select(static c => c.Id), record.Chunks.Select(static c => c.ChunkId));
        Assert.Equal(chunks.Select(static c => c.ContentSha256), record.Chunks.Select(static c => c.ContentSha256));
        Assert.Equal(chunks.Select(static c => c.Label.Name), record.Chunks.Select(static c => c.Label));
        Assert.Empty(record.PostFilterDrops);
        Assert.Matches("^[0-9a-f]{64}$", record.QueryHash);

        var verification = await server.Runtime.Audit.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
    }

    [StoreFact]
    public async Task AuditRecord_CarriesNoQueryTextOrChunkText()
    {
        const string secretQuery = "Leila Farouk card number";
        var (receiptId, chunks) = await server.RetrieveAsync("erin", secretQuery, top: 5);
        var entry = await server.Runtime.Audit.GetAsync(receiptId, CancellationToken.None);
        Assert.NotNull(entry);

        var json = JsonSerializer.Serialize(entry.Record, AuditJsonContext.Default.AuditRecord);
        Assert.DoesNotContain("Leila", json, StringComparison.OrdinalIgnoreCase);
        Assert.All(chunks, chunk => Assert.DoesNotContain(chunk.Text[..Math.Min(40, chunk.Text.Length)], json, StringComparison.Ordinal));
    }

    /// <summary>Runs these scenarios on the embedded SQLite store and audit log.</summary>
    [Collection(ServerCollection.Name)]
    public sealed class OnSqlite(ServerFixture server) : AuditTests(server);

    /// <summary>Runs these scenarios with the store and audit log in PostgreSQL.</summary>
    [Collection(PostgreSqlServerCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServerFixture server) : AuditTests(server);
}
