using Npgsql;
using NpgsqlTypes;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>Serializes schema creation across processes: <c>CREATE ... IF NOT EXISTS</c> alone races on the catalog
/// when several servers (or a server and the CLI) start at once.</summary>
internal static class PostgreSqlSchemaLock
{
    /// <summary>Takes a transaction-level advisory lock named after the schema; released at commit or rollback.</summary>
    public static async Task TakeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended(@name, 0))", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string>("name", NpgsqlDbType.Text) { TypedValue = $"copilotguard.schema:{schema}" });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
