using CopilotGuard.Audit;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.PostgreSql.Tests.Audit;

/// <summary>What is particular to the PostgreSQL audit log: option validation, U+0000 in indexed ids, concurrent first starts.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlAuditLogTests(PostgresServer server)
{
    [Fact]
    public void Constructor_InvalidOptions_ThrowsListingEveryProblem()
    {
        var options = new PostgreSqlAuditLogOptions { Schema = "Bad-Schema; DROP", MaxBatchSize = 0, CheckpointEvery = -1, CheckpointInterval = TimeSpan.Zero };

        // The data source is never opened: validation happens first.
        using var dataSource = Npgsql.NpgsqlDataSource.Create("Host=127.0.0.1;Port=1");
        var error = Assert.Throws<ArgumentException>(() => new PostgreSqlAuditLog(dataSource, options));

        foreach (var name in (string[])["Schema", "MaxBatchSize", "CheckpointEvery", "CheckpointInterval"])
        {
            Assert.Contains(name, error.Message, StringComparison.Ordinal);
        }
    }

    [PostgresFact]
    public async Task AppendAsync_NulInAnIndexedId_IsRefusedForThatCallerOnly()
    {
        await using var log = await OpenAsync();
        var good = Task.Run(() => log.AppendAsync(Record("ok"), CancellationToken.None));

        var error = await Assert.ThrowsAsync<ArgumentException>(() => log.AppendAsync(AuditLogConformanceTests.Record("bad", subjects: ["pat\0-1"]), CancellationToken.None));

        Assert.Contains("U+0000", error.Message, StringComparison.Ordinal);
        Assert.Contains("subjects", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await good).Sequence);
        Assert.Null(await log.GetAsync("bad", CancellationToken.None));
        Assert.Null(await log.GetAsync("o\0k", CancellationToken.None));
        Assert.Empty((await log.GetSubjectAccessesAsync("pat\0-1", new AuditPageRequest(), CancellationToken.None)).Entries);
        Assert.True((await log.VerifyAsync(CancellationToken.None)).Ok);
    }

    [PostgresFact]
    public async Task InitializeAsync_ManyProcessesStartingAtOnce_CreateTheSchemaOnce()
    {
        var schema = server.NewSchema();
        var logs = Enumerable.Range(0, 6).Select(_ => new PostgreSqlAuditLog(server.DataSource, new PostgreSqlAuditLogOptions { Schema = schema })).ToArray();
        try
        {
            await Task.WhenAll(logs.Select(log => Task.Run(() => log.InitializeAsync(CancellationToken.None))));

            await Task.WhenAll(logs.Select((log, i) => log.AppendAsync(Record($"r{i}"), CancellationToken.None)));
            var verification = await logs[0].VerifyAsync(CancellationToken.None);
            Assert.True(verification.Ok, verification.Problem);
            Assert.Equal(6, verification.Records);
        }
        finally
        {
            foreach (var log in logs)
            {
                await log.DisposeAsync();
            }
        }
    }

    [PostgresFact]
    public async Task AppendAsync_RecordWithLocalTimeOffset_IsStoredWithItsBytesUnchanged()
    {
        await using var log = await OpenAsync();
        var record = Record("tz") with { Time = new DateTimeOffset(2025, 6, 1, 12, 30, 15, 123, TimeSpan.FromHours(2)).AddTicks(4567) };

        await log.AppendAsync(record, CancellationToken.None);

        var stored = await log.GetAsync("tz", CancellationToken.None);
        Assert.Equal(AuditJson.Serialize(record), AuditJson.Serialize(stored!.Record));
        Assert.Equal(record.Time, stored.Record.Time);
    }

    [PostgresFact]
    public async Task VerifyAsync_StoredPayloadMissingAnArrayKey_NamesTheEntryInsteadOfThrowing()
    {
        // A tampered payload that still parses but lacks "subjects" deserializes with a default (not empty) array;
        // the index check must not throw on it (it did: "default instance of ImmutableArray").
        var schema = server.NewSchema();
        await using var log = new PostgreSqlAuditLog(server.DataSource, new PostgreSqlAuditLogOptions { Schema = schema });
        await log.InitializeAsync(CancellationToken.None);
        for (var i = 1; i <= 3; i++)
        {
            await log.AppendAsync(AuditLogConformanceTests.Record($"r{i}", subjects: ["cust-1"]), CancellationToken.None);
        }

        await using (var command = server.DataSource.CreateCommand($"UPDATE {schema}.audit_log SET payload = convert_to(replace(convert_from(payload, 'UTF8'), ',\"subjects\":[\"cust-1\"]', ''), 'UTF8') WHERE seq = 2"))
        {
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        var result = await log.VerifyAsync(CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Equal(2, result.FirstBadSequence);
    }

    private async Task<PostgreSqlAuditLog> OpenAsync()
    {
        var log = new PostgreSqlAuditLog(server.DataSource, new PostgreSqlAuditLogOptions { Schema = server.NewSchema() });
        await log.InitializeAsync(CancellationToken.None);
        return log;
    }

    private static AuditRecord Record(string id) => AuditLogConformanceTests.Record(id);
}
