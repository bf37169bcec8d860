using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Anonymization;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite;

/// <summary>Keeps the pseudonym mapping of each conversation in a SQLite file, so placeholders survive restarts.</summary>
/// <remarks>
/// <para>Rows are keyed by the HMAC of the conversation id (<see cref="VaultCipher.ConversationKey"/>) and found by an HMAC of
/// the subject; subject keys and real values are encrypted with AES-256-GCM, bound to their conversation, type and number,
/// so nothing in the file names a person and a swapped or altered row fails to decrypt (and the call fails).</para>
/// <para>Numbering is decided inside one write transaction (<c>BEGIN IMMEDIATE</c>) with unique constraints on
/// (conversation, type, number) and (conversation, type, subject), so racing requests, in this process or another one
/// on the same file (WAL, busy timeout), never give one number to two subjects or two numbers to one subject.</para>
/// <para>A conversation expires after <c>timeToLive</c> without use (sliding); expired rows are deleted when the
/// conversation is next written, by <see cref="PurgeExpiredAsync"/>, and at most once a minute by writes.</para>
/// </remarks>
public sealed class SqlitePseudonymVault : IPseudonymVault
{
    private static readonly TimeSpan PurgeInterval = TimeSpan.FromMinutes(1);

    private readonly string _connectionString;
    private readonly VaultCipher _cipher;
    private readonly TimeSpan _timeToLive;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private Task? _initialization;
    private long _nextPurge;

    /// <summary>Creates a vault over a SQLite file (created on first use).</summary>
    /// <param name="path">The database file, e.g. data/vault.db.</param>
    /// <param name="key">The 32-byte vault key (keep it outside the database file).</param>
    /// <param name="timeToLive">How long an idle conversation's mapping is kept. The default is 24 hours.</param>
    /// <param name="timeProvider">The clock. The default is the system clock.</param>
    public SqlitePseudonymVault(string path, byte[] key, TimeSpan? timeToLive = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _cipher = new VaultCipher(key);
        _timeToLive = timeToLive ?? TimeSpan.FromHours(24);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_timeToLive, TimeSpan.Zero, nameof(timeToLive));
        _time = timeProvider ?? TimeProvider.System;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    /// <summary>Creates the tables if needed and deletes expired conversations; calls made before it do it themselves.</summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>A task that completes when the vault is ready.</returns>
    public Task InitializeAsync(CancellationToken cancellationToken = default) => EnsureInitializedAsync().WaitAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        string ck = _cipher.ConversationKey(conversationId);
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var entries = new List<PseudonymEntry>();
        long expiresAt;
        using (SqliteTransaction transaction = connection.BeginTransaction(deferred: true))
        {
            long? stored = await ExpiryAsync(connection, transaction, ck, cancellationToken).ConfigureAwait(false);
            if (stored is not { } live || live <= now)
            {
                return [];
            }

            expiresAt = live;
            await using SqliteCommand select = Command(connection, transaction, "SELECT entity_type, number, subject_key, original_value FROM pseudonyms WHERE conversation_key = $ck ORDER BY seq", ("$ck", ck));
            await using SqliteDataReader reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(Decrypt(ck, reader.GetString(0), reader.GetInt64(1), (byte[])reader.GetValue(2), (byte[])reader.GetValue(3)));
            }
        }

        // Sliding expiry: extended at most once per hundredth of the time to live, so reads rarely write.
        long extended = now + (long)_timeToLive.TotalMilliseconds;
        if (extended - expiresAt > (long)_timeToLive.TotalMilliseconds / 100)
        {
            await using SqliteCommand touch = Command(connection, null, "UPDATE conversations SET expires_at = max(expires_at, $expires) WHERE conversation_key = $ck AND expires_at > $now", ("$expires", extended), ("$ck", ck), ("$now", now));
            await touch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return entries;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddAsync(string conversationId, IReadOnlyList<PseudonymSubject> subjects, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        foreach (PseudonymSubject subject in subjects)
        {
            ArgumentNullException.ThrowIfNull(subject);
            ArgumentException.ThrowIfNullOrEmpty(subject.EntityType, nameof(subjects));
            ArgumentNullException.ThrowIfNull(subject.SubjectKey, nameof(subjects));
            ArgumentNullException.ThrowIfNull(subject.OriginalValue, nameof(subjects));
        }

        string ck = _cipher.ConversationKey(conversationId);
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var entries = new PseudonymEntry[subjects.Count];
        await using (SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            // BEGIN IMMEDIATE (the default for Microsoft.Data.Sqlite): the write lock is taken before anything is read, so
            // the numbering below cannot race.
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            if (await ExpiryAsync(connection, transaction, ck, cancellationToken).ConfigureAwait(false) is { } expiry && expiry <= now)
            {
                await DeleteConversationAsync(connection, transaction, ck, cancellationToken).ConfigureAwait(false);
            }

            for (int i = 0; i < entries.Length; i++)
            {
                entries[i] = await GetOrAddAsync(connection, transaction, ck, subjects[i], cancellationToken).ConfigureAwait(false);
            }

            await using (SqliteCommand touch = Command(connection, transaction, "INSERT INTO conversations (conversation_key, expires_at) VALUES ($ck, $expires) ON CONFLICT (conversation_key) DO UPDATE SET expires_at = excluded.expires_at", ("$ck", ck), ("$expires", now + (long)_timeToLive.TotalMilliseconds)))
            {
                await touch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        if (now >= Interlocked.Read(ref _nextPurge))
        {
            Interlocked.Exchange(ref _nextPurge, now + (long)PurgeInterval.TotalMilliseconds);
            await PurgeExpiredAsync(cancellationToken).ConfigureAwait(false);
        }

        return entries;
    }

    /// <inheritdoc />
    public async ValueTask<bool> RemoveAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        string ck = _cipher.ConversationKey(conversationId);
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        bool removed = await DeleteConversationAsync(connection, transaction, ck, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return removed;
    }

    /// <summary>Deletes every expired conversation and its pseudonyms.</summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The number of conversations deleted.</returns>
    public async Task<int> PurgeExpiredAsync(CancellationToken cancellationToken = default)
    {
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        return await PurgeCoreAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<PseudonymEntry> GetOrAddAsync(SqliteConnection connection, SqliteTransaction transaction, string ck, PseudonymSubject subject, CancellationToken cancellationToken)
    {
        string lookup = _cipher.SubjectLookupKey(ck, subject.EntityType, subject.SubjectKey);
        await using (SqliteCommand find = Command(connection, transaction, "SELECT number, subject_key, original_value FROM pseudonyms WHERE conversation_key = $ck AND entity_type = $type AND subject_lookup = $lookup", ("$ck", ck), ("$type", subject.EntityType), ("$lookup", lookup)))
        await using (SqliteDataReader reader = await find.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                PseudonymEntry existing = Decrypt(ck, subject.EntityType, reader.GetInt64(0), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2));
                return existing.SubjectKey == subject.SubjectKey
                    ? existing
                    : throw new CryptographicException("A pseudonym row does not belong to the subject it is indexed under.");
            }
        }

        long number;
        await using (SqliteCommand next = Command(connection, transaction, "SELECT coalesce(max(number), 0) + 1 FROM pseudonyms WHERE conversation_key = $ck AND entity_type = $type", ("$ck", ck), ("$type", subject.EntityType)))
        {
            number = (long)(await next.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        await using (SqliteCommand insert = Command(connection, transaction,
            "INSERT INTO pseudonyms (conversation_key, entity_type, number, subject_lookup, subject_key, original_value) VALUES ($ck, $type, $number, $lookup, $key, $value)",
            ("$ck", ck), ("$type", subject.EntityType), ("$number", number), ("$lookup", lookup),
            ("$key", _cipher.Seal(Encoding.UTF8.GetBytes(subject.SubjectKey), AssociatedData(ck, subject.EntityType, number, "key"))),
            ("$value", _cipher.Seal(Encoding.UTF8.GetBytes(subject.OriginalValue), AssociatedData(ck, subject.EntityType, number, "value")))))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return new PseudonymEntry(Pseudonym(subject.EntityType, number), subject.EntityType, subject.SubjectKey, subject.OriginalValue);
    }

    private PseudonymEntry Decrypt(string ck, string entityType, long number, byte[] sealedKey, byte[] sealedValue)
    {
        string subjectKey = Encoding.UTF8.GetString(_cipher.Open(sealedKey, AssociatedData(ck, entityType, number, "key")));
        string value = Encoding.UTF8.GetString(_cipher.Open(sealedValue, AssociatedData(ck, entityType, number, "value")));
        return new PseudonymEntry(Pseudonym(entityType, number), entityType, subjectKey, value);
    }

    /// <summary>Binds a ciphertext to its conversation, type, number and column, so rows cannot be swapped or moved.</summary>
    private static byte[] AssociatedData(string ck, string entityType, long number, string column) =>
        Encoding.UTF8.GetBytes($"copilotguard-pseudonym|{ck}|{entityType.Length}:{entityType}|{number}|{column}");

    private static string Pseudonym(string entityType, long number) => $"<{entityType}_{number}>";

    private static async Task<long?> ExpiryAsync(SqliteConnection connection, SqliteTransaction transaction, string ck, CancellationToken cancellationToken)
    {
        await using SqliteCommand command = Command(connection, transaction, "SELECT expires_at FROM conversations WHERE conversation_key = $ck", ("$ck", ck));
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long expiresAt ? expiresAt : null;
    }

    private static async Task<bool> DeleteConversationAsync(SqliteConnection connection, SqliteTransaction transaction, string ck, CancellationToken cancellationToken)
    {
        await using SqliteCommand rows = Command(connection, transaction, "DELETE FROM pseudonyms WHERE conversation_key = $ck", ("$ck", ck));
        int deleted = await rows.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand conversation = Command(connection, transaction, "DELETE FROM conversations WHERE conversation_key = $ck", ("$ck", ck));
        return await conversation.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) + deleted > 0;
    }

    private async Task<int> PurgeCoreAsync(CancellationToken cancellationToken)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (SqliteCommand rows = Command(connection, transaction, "DELETE FROM pseudonyms WHERE conversation_key IN (SELECT conversation_key FROM conversations WHERE expires_at <= $now)", ("$now", now)))
        {
            await rows.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        int purged;
        await using (SqliteCommand conversations = Command(connection, transaction, "DELETE FROM conversations WHERE expires_at <= $now", ("$now", now)))
        {
            purged = await conversations.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return purged;
    }

    private Task EnsureInitializedAsync()
    {
        Task? initialization = Volatile.Read(ref _initialization);
        if (initialization is { IsCompletedSuccessfully: true })
        {
            return initialization;
        }

        lock (_gate)
        {
            // A failed initialization is retried by the next call; until it succeeds every call fails.
            if (_initialization is null || _initialization.IsFaulted || _initialization.IsCanceled)
            {
                _initialization = InitializeCoreAsync();
            }

            return _initialization;
        }
    }

    private async Task InitializeCoreAsync()
    {
        await using (SqliteConnection connection = await OpenAsync(CancellationToken.None).ConfigureAwait(false))
        await using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS conversations (
                    conversation_key TEXT NOT NULL PRIMARY KEY,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS conversations_by_expiry ON conversations (expires_at);
                CREATE TABLE IF NOT EXISTS pseudonyms (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    conversation_key TEXT NOT NULL,
                    entity_type TEXT NOT NULL,
                    number INTEGER NOT NULL CHECK (number > 0),
                    subject_lookup TEXT NOT NULL,
                    subject_key BLOB NOT NULL,
                    original_value BLOB NOT NULL,
                    UNIQUE (conversation_key, entity_type, number),
                    UNIQUE (conversation_key, entity_type, subject_lookup)
                );
                """;
            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await PurgeCoreAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using SqliteCommand pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object Value)> parameters)
    {
        SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach ((string name, object value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}
