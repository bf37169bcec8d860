using CopilotGuard.Server.Tests.PostgreSql;
using Npgsql;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>Issue 17 on PostgreSQL: readiness runs the store's count and the audit log's rolled-back insert against the
/// cluster, and names the one whose table disappears.</summary>
[Collection(PostgreSqlServerCollection.Name)]
public sealed class PostgreSqlHealthTests(PostgreSqlServerFixture server)
{
    [StoreFact]
    public async Task Ready_PostgreSqlProviders_Is200_ThenNamesTheBrokenTable()
    {
        await Readiness.AssertReadyAsync(server.Client);
        await WhileRenamedAsync("audit_log", () => Readiness.AssertOnlyFailingAsync(server.Client, "audit"));
        await WhileRenamedAsync("chunks", () => Readiness.AssertOnlyFailingAsync(server.Client, "store"));
        await Readiness.AssertReadyAsync(server.Client);
    }

    private async Task WhileRenamedAsync(string table, Func<Task> body)
    {
        await RenameAsync(table, table + "_gone");
        try
        {
            await body();
        }
        finally
        {
            await RenameAsync(table + "_gone", table);
        }
    }

    private async Task RenameAsync(string from, string to)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"ALTER TABLE copilotguard.{from} RENAME TO {to}", connection);
        await command.ExecuteNonQueryAsync();
    }
}
