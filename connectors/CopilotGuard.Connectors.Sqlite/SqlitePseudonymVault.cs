using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;
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
/// on the same file (WAL, busy timeout), never give one number to two subjects or two numbers to one subject.
/// <see cref="GetOrAddAsync"/> returns only once its transaction is committed with <c>synchronous = FULL</c>; when
/// anything fails the transaction is rolled back and the call throws.</para>
/// <para>A conversation expires after <c>timeToLive</c> without use (sliding); expired rows are deleted when the
/// conversation is next written, by <see cref="PurgeExpiredAsync"/>, and at most once a minute by writes. The expiry is
/// extended by reads and by writes that add no pseudonym at most once per hundredth of the time to live, so they rarely
/// write; a write that adds pseudonyms always extends it.</para>
/// <para>The vault keeps a small pool of open connections, each with its pragmas set once and its statements prepared on
/// first use and rebound on every call; a connection that failed is closed (which rolls back its transaction) rather than
/// reused. Writes of this instance queue for one another in the process instead of in SQLite's busy handler. Nothing of
/// the mapping is cached in memory: every call reads the file, so other processes' writes are always seen. Dispose the
/// vault to close its connections.</para>
/// </remarks>
public sealed class SqlitePseudonymVault : IPseudonymVault, IAsyncDisposable, IDisposable
{
    private static readonly long PurgeIntervalMilliseconds = (long)TimeSpan.FromMinutes(1).TotalMilliseconds;
    private static readonly int MaxPooledSessions = Math.Max(8, Environment.ProcessorCount * 4);

    /// <summary>Stack space for the associated data of one ciphertext; longer entity types use a heap buffer.</summary>
    private const int AssociatedDataStackBytes = 512;
    private const string KeyColumn = "key";
    private const string ValueColumn = "value";

    private readonly string _connectionString;
    private readonly VaultCipher _cipher;
    private readonly long _timeToLive;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Lock _poolLock = new();
    private readonly Stack<Session> _idle = new();

    // Never disposed: it has no wait handle unless AvailableWaitHandle is read, and a call in flight when the vault is
    // disposed must still be able to release it.
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private Task? _initialization;
    private long _nextPurge;
    private int _disposed;
    private int _connectionsOpened;
    private int _statementsPrepared;

    /// <summary>Creates a vault over a SQLite file (created on first use).</summary>
    /// <param name="path">The database file, e.g. data/vault.db.</param>
    /// <param name="key">The 32-byte vault key (keep it outside the database file).</param>
    /// <param name="timeToLive">How long an idle conversation's mapping is kept. The default is 24 hours.</param>
    /// <param name="timeProvider">The clock. The default is the system clock.</param>
    public SqlitePseudonymVault(string path, byte[] key, TimeSpan? timeToLive = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _cipher = new VaultCipher(key);
        TimeSpan ttl = timeToLive ?? TimeSpan.FromHours(24);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero, nameof(timeToLive));
        _timeToLive = (long)ttl.TotalMilliseconds;
        _time = timeProvider ?? TimeProvider.System;

        // The vault pools its own connections (with their prepared statements), so Microsoft.Data.Sqlite's pool is off:
        // closing a connection really closes it, rolling back whatever transaction a failure left open.
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString();
    }

    /// <summary>Gets how many connections the vault has opened (for tests).</summary>
    internal int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    /// <summary>Gets how many commands the vault's connections have prepared (for tests).</summary>
    internal int StatementsPrepared => Volatile.Read(ref _statementsPrepared);

    /// <summary>Creates the tables if needed and deletes expired conversations; calls made before it do it themselves.</summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>A task that completes when the vault is ready.</returns>
    public Task InitializeAsync(CancellationToken cancellationToken = default) => EnsureInitializedAsync().WaitAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        string ck = _cipher.ConversationKey(conversationId);
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        Session session = await RentAsync(cancellationToken).ConfigureAwait(false);
        bool healthy = false;
        try
        {
            // One statement, so one read snapshot: the expiry and the rows are consistent without a transaction.
            List<PseudonymEntry>? entries = null;
            long? expiresAt = null;
            await using (SqliteDataReader reader = await session.Bind(Statement.Entries, ck).ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    expiresAt ??= reader.GetInt64(0);
                    if (expiresAt <= now)
                    {
                        break;
                    }

                    // A conversation without pseudonyms yields one row of nulls (left join).
                    if (!reader.IsDBNull(1))
                    {
                        (entries ??= []).Add(Decrypt(ck, reader.GetString(1), reader.GetInt64(2), (byte[])reader.GetValue(3), (byte[])reader.GetValue(4)));
                    }
                }
            }

            if (expiresAt is not { } live || live <= now)
            {
                healthy = true;
                return [];
            }

            // Sliding expiry: extended at most once per hundredth of the time to live, so reads rarely write.
            long extended = now + _timeToLive;
            if (extended - live > _timeToLive / 100)
            {
                await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await session.Bind(Statement.Slide, extended, ck, now).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _writeGate.Release();
                }
            }

            healthy = true;
            return entries is null ? [] : entries;
        }
        finally
        {
            await ReturnAsync(session, healthy).ConfigureAwait(false);
        }
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
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            Session session = await RentAsync(cancellationToken).ConfigureAwait(false);
            bool healthy = false;
            try
            {
                PseudonymEntry[] entries = await GetOrAddCoreAsync(session, ck, subjects, now, cancellationToken).ConfigureAwait(false);
                if (now >= _nextPurge)
                {
                    // Housekeeping after the call's own commit, so the caller's token does not cancel it.
                    _nextPurge = now + PurgeIntervalMilliseconds;
                    await PurgeAsync(session, now, CancellationToken.None).ConfigureAwait(false);
                }

                healthy = true;
                return entries;
            }
            finally
            {
                await ReturnAsync(session, healthy).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> RemoveAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        string ck = _cipher.ConversationKey(conversationId);
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Session session = await RentAsync(cancellationToken).ConfigureAwait(false);
            bool healthy = false;
            try
            {
                await session.ExecuteAsync(Statement.Begin, cancellationToken).ConfigureAwait(false);
                bool removed = await session.Bind(Statement.Delete, ck).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
                cancellationToken.ThrowIfCancellationRequested();
                await session.ExecuteAsync(Statement.Commit, cancellationToken).ConfigureAwait(false);
                healthy = true;
                return removed;
            }
            finally
            {
                await ReturnAsync(session, healthy).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Deletes every expired conversation and its pseudonyms.</summary>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The number of conversations deleted.</returns>
    public async Task<int> PurgeExpiredAsync(CancellationToken cancellationToken = default)
    {
        await EnsureInitializedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Session session = await RentAsync(cancellationToken).ConfigureAwait(false);
            bool healthy = false;
            try
            {
                int purged = await PurgeAsync(session, _time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
                healthy = true;
                return purged;
            }
            finally
            {
                await ReturnAsync(session, healthy).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Closes the vault's connections; calls made afterwards throw <see cref="ObjectDisposedException"/>, and a
    /// call still running closes its connection when it ends.</summary>
    public void Dispose()
    {
        foreach (Session session in TakeIdleOnDispose())
        {
            session.Dispose();
        }
    }

    /// <inheritdoc cref="Dispose" />
    /// <returns>A task that completes when the idle connections are closed.</returns>
    public async ValueTask DisposeAsync()
    {
        foreach (Session session in TakeIdleOnDispose())
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads a pragma on the connection the next call would use (for tests).</summary>
    internal async Task<long> ReadPragmaAsync(string name)
    {
        Session session = await RentAsync(CancellationToken.None).ConfigureAwait(false);
        bool healthy = false;
        try
        {
            await using SqliteCommand command = session.Connection.CreateCommand();
            command.CommandText = "PRAGMA " + name;
            long value = (long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
            healthy = true;
            return value;
        }
        finally
        {
            await ReturnAsync(session, healthy).ConfigureAwait(false);
        }
    }

    /// <summary>Looks up or numbers every subject in one <c>BEGIN IMMEDIATE</c> transaction and commits it.</summary>
    private async Task<PseudonymEntry[]> GetOrAddCoreAsync(Session session, string ck, IReadOnlyList<PseudonymSubject> subjects, long now, CancellationToken cancellationToken)
    {
        var entries = new PseudonymEntry[subjects.Count];

        // BEGIN IMMEDIATE: the write lock is taken before anything is read, so the numbering below cannot race.
        await session.ExecuteAsync(Statement.Begin, cancellationToken).ConfigureAwait(false);
        long? stored = await ReadInt64Async(session.Bind(Statement.Expiry, ck), cancellationToken).ConfigureAwait(false);

        // An expired conversation is forgotten and numbered afresh. A conversation with no pseudonyms (a new one, or
        // one just deleted) needs no lookups and starts every type at 1.
        bool empty;
        if (stored <= now)
        {
            await session.Bind(Statement.Delete, ck).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            empty = true;
        }
        else
        {
            empty = stored is null && await ReadInt64Async(session.Bind(Statement.HasPseudonyms, ck), cancellationToken).ConfigureAwait(false) == 0;
        }

        Dictionary<string, int> seen = session.Seen;
        Dictionary<string, long> lastNumbers = session.LastNumbers;
        seen.Clear();
        lastNumbers.Clear();
        bool added = false;
        for (int i = 0; i < entries.Length; i++)
        {
            PseudonymSubject subject = subjects[i];
            string lookup = _cipher.SubjectLookupKey(ck, subject.EntityType, subject.SubjectKey);
            if (seen.TryGetValue(lookup, out int first))
            {
                // The same subject twice in one call: the first occurrence's entry (and value).
                entries[i] = entries[first];
                continue;
            }

            seen.Add(lookup, i);
            if (!empty && await FindAsync(session, ck, subject, lookup, cancellationToken).ConfigureAwait(false) is { } existing)
            {
                entries[i] = existing;
                continue;
            }

            // The last number of the type is read once per transaction, then counted here.
            if (!lastNumbers.TryGetValue(subject.EntityType, out long number))
            {
                number = empty ? 0 : await ReadInt64Async(session.Bind(Statement.LastNumber, ck, subject.EntityType), cancellationToken).ConfigureAwait(false) ?? 0;
            }

            lastNumbers[subject.EntityType] = ++number;
            await session.Bind(
                Statement.Insert,
                ck,
                subject.EntityType,
                number,
                lookup,
                Seal(subject.SubjectKey, ck, subject.EntityType, number, KeyColumn),
                Seal(subject.OriginalValue, ck, subject.EntityType, number, ValueColumn)).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            entries[i] = new PseudonymEntry(Pseudonym(subject.EntityType, number), subject.EntityType, subject.SubjectKey, subject.OriginalValue);
            added = true;
        }

        // Extended whenever pseudonyms were added (the transaction syncs anyway); otherwise like a read, at most once per
        // hundredth of the time to live, so a call that finds every subject commits without writing.
        long expires = now + _timeToLive;
        if (added || stored is not { } current || current <= now || expires - current > _timeToLive / 100)
        {
            await session.Bind(Statement.Touch, ck, expires).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        await session.ExecuteAsync(Statement.Commit, cancellationToken).ConfigureAwait(false);
        return entries;
    }

    private async ValueTask<PseudonymEntry?> FindAsync(Session session, string ck, PseudonymSubject subject, string lookup, CancellationToken cancellationToken)
    {
        await using SqliteDataReader reader = await session.Bind(Statement.Find, ck, subject.EntityType, lookup).ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        PseudonymEntry existing = Decrypt(ck, subject.EntityType, reader.GetInt64(0), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2));
        return existing.SubjectKey == subject.SubjectKey
            ? existing
            : throw new CryptographicException("A pseudonym row does not belong to the subject it is indexed under.");
    }

    private static async Task<int> PurgeAsync(Session session, long now, CancellationToken cancellationToken)
    {
        await session.ExecuteAsync(Statement.Begin, cancellationToken).ConfigureAwait(false);
        await session.Bind(Statement.PurgeRows, now).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        int purged = await session.Bind(Statement.PurgeConversations, now).ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await session.ExecuteAsync(Statement.Commit, cancellationToken).ConfigureAwait(false);
        return purged;
    }

    /// <summary>Runs a bound query for one integer; <see langword="null"/> when it returns no row.</summary>
    private static async ValueTask<long?> ReadInt64Async(SqliteCommand query, CancellationToken cancellationToken)
    {
        await using SqliteDataReader reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? reader.GetInt64(0) : null;
    }

    private PseudonymEntry Decrypt(string ck, string entityType, long number, byte[] sealedKey, byte[] sealedValue)
    {
        Span<byte> buffer = stackalloc byte[AssociatedDataStackBytes];
        string subjectKey = Encoding.UTF8.GetString(_cipher.Open(sealedKey, AssociatedData(buffer, ck, entityType, number, KeyColumn)));
        string value = Encoding.UTF8.GetString(_cipher.Open(sealedValue, AssociatedData(buffer, ck, entityType, number, ValueColumn)));
        return new PseudonymEntry(Pseudonym(entityType, number), entityType, subjectKey, value);
    }

    private byte[] Seal(string plaintext, string ck, string entityType, long number, string column)
    {
        Span<byte> buffer = stackalloc byte[AssociatedDataStackBytes];
        return _cipher.Seal(Encoding.UTF8.GetBytes(plaintext), AssociatedData(buffer, ck, entityType, number, column));
    }

    /// <summary>Binds a ciphertext to its conversation, type, number and column, so rows cannot be swapped or moved.</summary>
    /// <remarks>Written into <paramref name="buffer"/> (or a new array when it is too small); the bytes are the UTF-8 of
    /// <c>copilotguard-pseudonym|{ck}|{type length}:{type}|{number}|{column}</c>, as in every existing vault file.</remarks>
    private static ReadOnlySpan<byte> AssociatedData(Span<byte> buffer, string ck, string entityType, long number, string column)
    {
        // 27 bytes of literals and at most 30 digits (an int and a long), plus the UTF-8 of the three strings.
        int worstCase = 64 + Encoding.UTF8.GetMaxByteCount(ck.Length + entityType.Length + column.Length);
        if (buffer.Length < worstCase)
        {
            buffer = new byte[worstCase];
        }

        return Utf8.TryWrite(buffer, CultureInfo.InvariantCulture, $"copilotguard-pseudonym|{ck}|{entityType.Length}:{entityType}|{number}|{column}", out int written)
            ? buffer[..written]
            : throw new InvalidOperationException("The associated data did not fit its buffer.");
    }

    private static string Pseudonym(string entityType, long number) => $"<{entityType}_{number}>";

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

    /// <summary>Creates the tables and purges; shared by every waiting call, so no caller's token cancels it.</summary>
    private async Task InitializeCoreAsync()
    {
        Session session = await RentAsync(CancellationToken.None).ConfigureAwait(false);
        bool healthy = false;
        try
        {
            await using (SqliteCommand command = session.Connection.CreateCommand())
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
                await command.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            await PurgeAsync(session, _time.GetUtcNow().ToUnixTimeMilliseconds(), CancellationToken.None).ConfigureAwait(false);
            healthy = true;
        }
        finally
        {
            await ReturnAsync(session, healthy).ConfigureAwait(false);
        }
    }

    /// <summary>Takes an idle connection, or opens one (with its pragmas) when none is idle.</summary>
    private async ValueTask<Session> RentAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_poolLock)
        {
            if (_idle.TryPop(out Session? idle))
            {
                return idle;
            }
        }

        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using SqliteCommand pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _connectionsOpened);
            return new Session(connection, this);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Returns a connection to the pool, or closes it when the call failed (its state is unknown: closing rolls
    /// back any open transaction), the pool is full, or the vault is disposed.</summary>
    private ValueTask ReturnAsync(Session session, bool healthy)
    {
        if (healthy)
        {
            lock (_poolLock)
            {
                if (Volatile.Read(ref _disposed) == 0 && _idle.Count < MaxPooledSessions)
                {
                    _idle.Push(session);
                    return ValueTask.CompletedTask;
                }
            }
        }

        return session.DisposeAsync();
    }

    /// <summary>Marks the vault disposed and empties the pool, returning the idle sessions to close (none when the vault
    /// was already disposed).</summary>
    private Session[] TakeIdleOnDispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return [];
        }

        lock (_poolLock)
        {
            Session[] idle = [.. _idle];
            _idle.Clear();
            return idle;
        }
    }

    /// <summary>The vault's statements; each connection prepares one on first use and rebinds it on every call.</summary>
    private enum Statement
    {
        Begin,
        Commit,
        Entries,
        Slide,
        Expiry,
        HasPseudonyms,
        Delete,
        Find,
        LastNumber,
        Insert,
        Touch,
        PurgeRows,
        PurgeConversations,
    }

    /// <summary>The SQL of a statement and its parameters, in the order <see cref="Session.Bind"/> takes their values.</summary>
    private static (string Sql, string[] Parameters) Definition(Statement statement) => statement switch
    {
        Statement.Begin => ("BEGIN IMMEDIATE", []),
        Statement.Commit => ("COMMIT", []),
        Statement.Entries => (
            "SELECT c.expires_at, p.entity_type, p.number, p.subject_key, p.original_value FROM conversations AS c LEFT JOIN pseudonyms AS p ON p.conversation_key = c.conversation_key WHERE c.conversation_key = $ck ORDER BY p.seq",
            ["$ck"]),
        Statement.Slide => ("UPDATE conversations SET expires_at = max(expires_at, $expires) WHERE conversation_key = $ck AND expires_at > $now", ["$expires", "$ck", "$now"]),
        Statement.Expiry => ("SELECT expires_at FROM conversations WHERE conversation_key = $ck", ["$ck"]),
        Statement.HasPseudonyms => ("SELECT EXISTS (SELECT 1 FROM pseudonyms WHERE conversation_key = $ck)", ["$ck"]),
        Statement.Delete => ("DELETE FROM pseudonyms WHERE conversation_key = $ck; DELETE FROM conversations WHERE conversation_key = $ck", ["$ck"]),
        Statement.Find => ("SELECT number, subject_key, original_value FROM pseudonyms WHERE conversation_key = $ck AND entity_type = $type AND subject_lookup = $lookup", ["$ck", "$type", "$lookup"]),
        Statement.LastNumber => ("SELECT coalesce(max(number), 0) FROM pseudonyms WHERE conversation_key = $ck AND entity_type = $type", ["$ck", "$type"]),
        Statement.Insert => (
            "INSERT INTO pseudonyms (conversation_key, entity_type, number, subject_lookup, subject_key, original_value) VALUES ($ck, $type, $number, $lookup, $key, $value)",
            ["$ck", "$type", "$number", "$lookup", "$key", "$value"]),
        Statement.Touch => ("INSERT INTO conversations (conversation_key, expires_at) VALUES ($ck, $expires) ON CONFLICT (conversation_key) DO UPDATE SET expires_at = excluded.expires_at", ["$ck", "$expires"]),
        Statement.PurgeRows => ("DELETE FROM pseudonyms WHERE conversation_key IN (SELECT conversation_key FROM conversations WHERE expires_at <= $now)", ["$now"]),
        Statement.PurgeConversations => ("DELETE FROM conversations WHERE expires_at <= $now", ["$now"]),
        _ => throw new ArgumentOutOfRangeException(nameof(statement)),
    };

    /// <summary>One open connection with <c>synchronous = FULL</c> and a busy timeout, and its prepared statements.</summary>
    /// <remarks>Transactions are begun and committed with prepared statements too; a session is used by one call at a
    /// time, and one that failed is disposed, which closes the connection and so rolls back an open transaction.</remarks>
    private sealed class Session(SqliteConnection connection, SqlitePseudonymVault owner) : IAsyncDisposable, IDisposable
    {
        private readonly SqliteCommand?[] _commands = new SqliteCommand?[Enum.GetValues<Statement>().Length];

        public SqliteConnection Connection { get; } = connection;

        /// <summary>Gets the subjects of the current call by lookup key, with the index of their first occurrence.</summary>
        public Dictionary<string, int> Seen { get; } = new(StringComparer.Ordinal);

        /// <summary>Gets the last number given to each type in the current transaction.</summary>
        public Dictionary<string, long> LastNumbers { get; } = new(StringComparer.Ordinal);

        /// <summary>Gets the statement's command with its parameters set to <paramref name="values"/>, in order.</summary>
        public SqliteCommand Bind(Statement statement, params ReadOnlySpan<object> values)
        {
            SqliteCommand command = _commands[(int)statement] ??= Prepare(statement);
            SqliteParameterCollection parameters = command.Parameters;
            if (parameters.Count != values.Length)
            {
                throw new ArgumentException($"{statement} takes {parameters.Count} values, not {values.Length}.", nameof(values));
            }

            for (int i = 0; i < values.Length; i++)
            {
                parameters[i].Value = values[i];
            }

            return command;
        }

        /// <summary>Runs a statement without parameters (<c>BEGIN IMMEDIATE</c>, <c>COMMIT</c>).</summary>
        public Task ExecuteAsync(Statement statement, CancellationToken cancellationToken) => Bind(statement).ExecuteNonQueryAsync(cancellationToken);

        public void Dispose()
        {
            foreach (SqliteCommand? command in _commands)
            {
                command?.Dispose();
            }

            Connection.Dispose();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (SqliteCommand? command in _commands)
            {
                if (command is not null)
                {
                    await command.DisposeAsync().ConfigureAwait(false);
                }
            }

            await Connection.DisposeAsync().ConfigureAwait(false);
        }

        private SqliteCommand Prepare(Statement statement)
        {
            (string sql, string[] names) = Definition(statement);
            SqliteCommand command = Connection.CreateCommand();
            command.CommandText = sql;
            foreach (string name in names)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            // Parsed once, here; every execution resets and rebinds the same native statements.
            command.Prepare();
            Interlocked.Increment(ref owner._statementsPrepared);
            return command;
        }
    }
}
