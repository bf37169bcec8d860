using System.Globalization;
using CopilotGuard.Identity;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Hosting.Identity;

/// <summary>Stores suspensions in a SQLite file of the data folder (<c>principals.db</c>, WAL), shared by every
/// instance that opens the same folder.</summary>
/// <remarks>Every read goes to the file: nothing is cached, so a suspension written by one instance applies to the next
/// request on all of them. The per-request lookup runs on pooled connections that keep the prepared statement, so it
/// costs a primary-key probe, not a parse.</remarks>
public sealed class SqlitePrincipalStateStore : IPrincipalStateStore, IDisposable
{
    private const string LookupSql = "SELECT principal_id, reason, suspended_by, since FROM principal_suspensions WHERE principal_id = $id";
    private static readonly int MaxPooledLookups = Math.Max(4, Environment.ProcessorCount * 2);
    private readonly string _connectionString;
    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteCommand> _lookups = [];
    private int _disposed;

    /// <summary>Creates the store over a SQLite file.</summary>
    public SqlitePrincipalStateStore(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 5 }.ToString();
    }

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS principal_suspensions (
                principal_id TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                suspended_by TEXT NOT NULL,
                since TEXT NOT NULL);
            """;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<PrincipalSuspension?> GetSuspensionAsync(string principalId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(principalId);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_lookups.TryTake(out var lookup))
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            lookup = connection.CreateCommand();
            lookup.CommandText = LookupSql;
            lookup.Parameters.Add("$id", SqliteType.Text);
        }

        var healthy = false;
        try
        {
            lookup.Parameters[0].Value = principalId;
            PrincipalSuspension? suspension;
            await using (var reader = await lookup.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                suspension = await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
            }

            healthy = true;
            return suspension;
        }
        finally
        {
            // A failed lookup's connection is closed, not reused: its state is unknown.
            if (healthy && Volatile.Read(ref _disposed) == 0 && _lookups.Count < MaxPooledLookups)
            {
                _lookups.Add(lookup);
            }
            else
            {
                Close(lookup);
            }
        }
    }

    /// <summary>Closes the pooled lookup connections.</summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        while (_lookups.TryTake(out var lookup))
        {
            Close(lookup);
        }
    }

    private static void Close(SqliteCommand lookup)
    {
        var connection = lookup.Connection;
        lookup.Dispose();
        connection?.Dispose();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<PrincipalSuspension>> ListSuspensionsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT principal_id, reason, suspended_by, since FROM principal_suspensions ORDER BY principal_id";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var list = new List<PrincipalSuspension>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(Read(reader));
        }

        return list;
    }

    /// <inheritdoc />
    public async Task SuspendAsync(PrincipalSuspension suspension, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(suspension);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO principal_suspensions (principal_id, reason, suspended_by, since) VALUES ($id, $reason, $by, $since)
            ON CONFLICT (principal_id) DO UPDATE SET reason = excluded.reason, suspended_by = excluded.suspended_by, since = excluded.since
            """;
        command.Parameters.AddWithValue("$id", suspension.PrincipalId);
        command.Parameters.AddWithValue("$reason", suspension.Reason);
        command.Parameters.AddWithValue("$by", suspension.SuspendedBy);
        command.Parameters.AddWithValue("$since", suspension.Since.ToString("O", CultureInfo.InvariantCulture));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<bool> ResumeAsync(string principalId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(principalId);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM principal_suspensions WHERE principal_id = $id";
        command.Parameters.AddWithValue("$id", principalId);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    private static PrincipalSuspension Read(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        DateTimeOffset.Parse(reader.GetString(3), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }
}
