using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite;

/// <summary>A chunk store in one SQLite file: chunks, attributes and vectors, with exact cosine search in process
/// over the rows that pass the pushed-down SQL filter.</summary>
/// <remarks>
/// <para>Vectors are cached in memory and reloaded when the store's generation changes (any upsert), so a search reads
/// only the ids of the rows that pass the filter. Decoded chunks are cached per revision, which every upsert and every
/// label change advances (also when another process changes the file).</para>
/// <para>A search reads the revision, runs the filter and loads what the cache lacks in one read transaction (one WAL
/// snapshot), so a cached chunk is never older than the filter's view of the store: a label change takes effect on the
/// next search, in the pushed-down filter and in the post-filter's re-check alike.</para>
/// <para>The rows a filter passes are kept per revision too, keyed by the exact SQL and parameter values: a caller's
/// repeated searches run the SQL once per revision, and any change to the store runs it again.</para>
/// </remarks>
public sealed class SqliteChunkStore : IChunkStore, IDisposable
{
    /// <summary>The most decoded chunks kept per revision (about 2 KB each for 1 KB of text); beyond it chunks are read from SQLite.</summary>
    private const int MaxCachedChunks = 100_000;

    /// <summary>The most passing rows kept in cached filter results per revision (4 bytes each).</summary>
    private const long MaxCachedFilterRows = 4_000_000;

    /// <summary>The most idle read connections kept open with their prepared statements.</summary>
    private static readonly int MaxPooledSessions = Math.Max(8, Environment.ProcessorCount * 4);

    private readonly string _connectionString;
    private readonly LabelTaxonomy _labels;
    private readonly int _maxCachedFilterResults;
    private readonly SemaphoreSlim _cacheLock = new(1, 1);
    private VectorSnapshot? _snapshot;
    private ChunkCache _chunks = new(-1);
    private readonly System.Collections.Concurrent.ConcurrentBag<ReadSession> _sessions = [];
    private int _disposed;

    /// <summary>Creates a store over a SQLite file.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="labels">The label taxonomy chunk labels are read with.</param>
    /// <param name="maxCachedFilterResults">How many distinct filters' passing rows are kept per store revision (0 runs
    /// every filter in SQL). The default is 4,096.</param>
    public SqliteChunkStore(string path, LabelTaxonomy labels, int maxCachedFilterResults = 4096)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxCachedFilterResults);
        _maxCachedFilterResults = maxCachedFilterResults;
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
    }

    /// <inheritdoc />
    public string Name => "sqlite";

    /// <inheritdoc />
    public FilterCapabilities Capabilities => FilterCapabilities.All;

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
            INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
            CREATE TABLE IF NOT EXISTS chunks (
                rowid INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                document_id TEXT NOT NULL,
                source TEXT NOT NULL,
                label TEXT NOT NULL,
                version INTEGER NOT NULL,
                title TEXT,
                text TEXT NOT NULL,
                subjects TEXT,
                fields TEXT,
                row_schema TEXT,
                vector BLOB NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_chunks_document ON chunks (document_id);
            CREATE TABLE IF NOT EXISTS chunk_attributes (
                chunk_rowid INTEGER NOT NULL,
                name TEXT NOT NULL,
                kind INTEGER NOT NULL,
                text TEXT NOT NULL,
                num REAL);
            CREATE INDEX IF NOT EXISTS ix_attributes_chunk ON chunk_attributes (chunk_rowid, name);
            -- Every leaf compares values of one kind, and a negation excludes the other kinds by a kind range, so the
            -- value indexes lead with (name, kind); they replace the (name, text) and (name, num) indexes of older files.
            CREATE INDEX IF NOT EXISTS ix_attributes_kind_text ON chunk_attributes (name, kind, text);
            CREATE INDEX IF NOT EXISTS ix_attributes_kind_number ON chunk_attributes (name, kind, num);
            DROP INDEX IF EXISTS ix_attributes_value;
            DROP INDEX IF EXISTS ix_attributes_number;
            """, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (chunk, vector) in chunks)
        {
            await using (var delete = Command(connection, transaction, """
                DELETE FROM chunk_attributes WHERE chunk_rowid IN (SELECT rowid FROM chunks WHERE id = $id);
                DELETE FROM chunks WHERE id = $id;
                """))
            {
                delete.Parameters.AddWithValue("$id", chunk.Id);
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            long rowid;
            await using (var insert = Command(connection, transaction, """
                INSERT INTO chunks (id, document_id, source, label, version, title, text, subjects, fields, row_schema, vector)
                VALUES ($id, $document, $source, $label, $version, $title, $text, $subjects, $fields, $schema, $vector)
                RETURNING rowid;
                """))
            {
                insert.Parameters.AddWithValue("$id", chunk.Id);
                insert.Parameters.AddWithValue("$document", chunk.DocumentId);
                insert.Parameters.AddWithValue("$source", chunk.Source);
                insert.Parameters.AddWithValue("$label", chunk.Label.Name);
                insert.Parameters.AddWithValue("$version", chunk.Version);
                insert.Parameters.AddWithValue("$title", (object?)chunk.Title ?? DBNull.Value);
                insert.Parameters.AddWithValue("$text", chunk.Text);
                insert.Parameters.AddWithValue("$subjects", chunk.Subjects.IsDefaultOrEmpty ? DBNull.Value : JsonSerializer.Serialize(chunk.Subjects.ToArray()));
                insert.Parameters.AddWithValue("$fields", chunk.Fields is null ? DBNull.Value : JsonSerializer.Serialize(chunk.Fields));
                insert.Parameters.AddWithValue("$schema", chunk.Schema is null ? DBNull.Value : JsonSerializer.Serialize(chunk.Schema));
                insert.Parameters.AddWithValue("$vector", MemoryMarshal.AsBytes(vector.Span).ToArray());
                rowid = (long)(await insert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            await InsertAttributesAsync(connection, transaction, rowid, chunk.ResourceAttributes, cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, "UPDATE meta SET value = value + 1 WHERE key IN ('generation', 'revision');", cancellationToken, transaction).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(query.Top);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Skip);
        if (query.Mode != RetrievalMode.Vector)
        {
            // The broker refuses modes a store does not list; a direct caller must not get a silent vector search either.
            throw new NotSupportedException($"The {Name} store runs vector queries only, not {RetrievalModes.Name(query.Mode)}.");
        }

        var filter = SqliteFilterCompiler.Compile(query.Filter);
        var session = await RentAsync(cancellationToken).ConfigureAwait(false);
        var healthy = false;
        try
        {
            ChunkSearchResult result;

            // A deferred BEGIN does no I/O; the snapshot starts at the first read and holds for the whole search.
            using (var transaction = session.Connection.BeginTransaction(deferred: true))
            {
                session.Transaction = transaction;
                result = await SearchAsync(session, query, filter, cancellationToken).ConfigureAwait(false);
                transaction.Commit();
            }

            healthy = true;
            return result;
        }
        finally
        {
            Return(session, healthy);
        }
    }

    /// <inheritdoc />
    public async Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken)
    {
        var session = await RentAsync(cancellationToken).ConfigureAwait(false);
        var healthy = false;
        try
        {
            var command = session.Command("SELECT rowid FROM chunks WHERE id = $id");
            command.Parameters.AddWithValue("$id", chunkId);
            Chunk? chunk = null;
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long rowid)
            {
                chunk = (await LoadAsync(session, [rowid], cancellationToken).ConfigureAwait(false)).GetValueOrDefault(rowid);
            }

            healthy = true;
            return chunk;
        }
        finally
        {
            Return(session, healthy);
        }
    }

    /// <inheritdoc />
    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM chunks";
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>>?> GetAttributeKindsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT name, kind FROM chunk_attributes";
        var kinds = new Dictionary<string, HashSet<AttributeKind>>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var name = reader.GetString(0);
            if (!kinds.TryGetValue(name, out var set))
            {
                kinds[name] = set = [];
            }

            set.Add((AttributeKind)reader.GetInt32(1));
        }

        return kinds.ToDictionary(static pair => pair.Key, static pair => (IReadOnlySet<AttributeKind>)pair.Value, StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Chunk>> GetDocumentAsync(string documentId, CancellationToken cancellationToken)
    {
        var session = await RentAsync(cancellationToken).ConfigureAwait(false);
        var healthy = false;
        try
        {
            var rowids = new List<long>();
            var command = session.Command("SELECT rowid FROM chunks WHERE document_id = $document ORDER BY id");
            command.Parameters.AddWithValue("$document", documentId);
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rowids.Add(reader.GetInt64(0));
                }
            }

            var chunks = await LoadAsync(session, rowids, cancellationToken).ConfigureAwait(false);
            healthy = true;
            return [.. rowids.Select(rowid => chunks[rowid])];
        }
        finally
        {
            Return(session, healthy);
        }
    }

    /// <inheritdoc />
    public async Task<int> SetDocumentLabelAsync(string documentId, SensitivityLabel label, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(label);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var update = Command(connection, transaction, """
            UPDATE chunk_attributes SET kind = $kind, text = $label, num = $rank
            WHERE name = 'label' AND chunk_rowid IN (SELECT rowid FROM chunks WHERE document_id = $document);
            UPDATE chunks SET label = $label WHERE document_id = $document;
            UPDATE meta SET value = value + 1 WHERE key = 'revision';
            """);
        update.Parameters.AddWithValue("$kind", (int)AttributeKind.Label);
        update.Parameters.AddWithValue("$label", label.Name);
        update.Parameters.AddWithValue("$rank", (double)label.Rank);
        update.Parameters.AddWithValue("$document", documentId);
        var changed = await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (changed - 1) / 2;
    }

    /// <inheritdoc />
    public string DescribeFilter(FilterNode filter) => SqliteFilterCompiler.Describe(SqliteFilterCompiler.Compile(filter));

    /// <inheritdoc />
    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        while (_sessions.TryTake(out var session))
        {
            session.Dispose();
        }

        _cacheLock.Dispose();
    }

    private async Task<ChunkSearchResult> SearchAsync(ReadSession session, ChunkQuery query, SqliteFilter filter, CancellationToken cancellationToken)
    {
        var (generation, revision) = await ReadVersionAsync(session, cancellationToken).ConfigureAwait(false);
        var snapshot = await GetSnapshotAsync(session, generation, cancellationToken).ConfigureAwait(false);
        var cache = CurrentCache(revision);
        var key = cache is null || _maxCachedFilterResults == 0 ? null : FilterResultKey(filter, generation);

        // The rows a filter passes depend only on the store's content, which is fixed for a revision: a caller's repeated
        // searches at one revision run the SQL once. Any upsert or label change (from any process) starts a new revision.
        if (key is null || !cache!.FilterResults.TryGetValue(key, out var passing))
        {
            passing = await RunFilterAsync(session, snapshot, filter, cancellationToken).ConfigureAwait(false);
            if (key is not null && cache!.FilterResults.Count < _maxCachedFilterResults && Interlocked.Add(ref cache.CachedRows, passing.Length) <= MaxCachedFilterRows)
            {
                cache.FilterResults.TryAdd(key, passing);
            }
        }

        var wanted = query.Skip + query.Top;
        var ranked = snapshot.Rank(query.Vector.Span, passing, wanted);
        var page = ranked.Count > query.Skip ? ranked.GetRange(query.Skip, ranked.Count - query.Skip) : [];
        var rowids = new long[page.Count];
        for (var i = 0; i < page.Count; i++)
        {
            rowids[i] = snapshot.RowIds[page[i].Index];
        }

        var chunks = await GetChunksAsync(session, revision, rowids, cancellationToken).ConfigureAwait(false);
        var results = new List<ScoredChunk>(page.Count);
        for (var i = 0; i < page.Count; i++)
        {
            if (chunks.TryGetValue(rowids[i], out var chunk))
            {
                results.Add(new ScoredChunk(chunk, page[i].Score));
            }
        }

        return new ChunkSearchResult(results, SqliteFilterCompiler.Describe(filter), passing.Length <= wanted);
    }

    /// <summary>Runs the compiled filter in the session's snapshot and returns the vector-snapshot indexes of the rows that pass.</summary>
    private static async Task<int[]> RunFilterAsync(ReadSession session, VectorSnapshot snapshot, SqliteFilter filter, CancellationToken cancellationToken)
    {
        var passing = new List<int>();
        if (filter.Sql != "0")
        {
            // The SQL text depends only on the filter's shape, so a caller's repeated searches reuse one prepared statement.
            var command = session.Command($"SELECT c.rowid FROM chunks c WHERE {filter.Sql}");
            foreach (var (name, value) in filter.Parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (snapshot.IndexOf.TryGetValue(reader.GetInt64(0), out var index))
                {
                    passing.Add(index);
                }
            }
        }

        return [.. passing];
    }

    /// <summary>The current chunk cache when it is at the search's revision; otherwise <see langword="null"/> (the search
    /// neither reads nor fills cached results).</summary>
    private ChunkCache? CurrentCache(long revision)
    {
        var cache = Volatile.Read(ref _chunks);
        if (cache.Revision < revision)
        {
            // A newer revision than the cache: start a new cache, unless a concurrent search already did.
            var fresh = new ChunkCache(revision);
            cache = Interlocked.CompareExchange(ref _chunks, fresh, cache) == cache ? fresh : Volatile.Read(ref _chunks);
        }

        return cache.Revision == revision ? cache : null;
    }

    /// <summary>An exact key for a filter's result: the SQL text and every parameter with its type and length, so no two
    /// different filters (whatever their values contain) share a key. The generation pins the vector snapshot the row
    /// indexes refer to.</summary>
    private static string FilterResultKey(SqliteFilter filter, long generation)
    {
        var key = new System.Text.StringBuilder(filter.Sql.Length + 64 * filter.Parameters.Count);
        key.Append(generation.ToString(CultureInfo.InvariantCulture)).Append('\n').Append(filter.Sql.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(filter.Sql);
        foreach (var (name, value) in filter.Parameters)
        {
            var (type, text) = value switch
            {
                string s => ('s', s),
                long l => ('i', l.ToString(CultureInfo.InvariantCulture)),
                int n => ('i', n.ToString(CultureInfo.InvariantCulture)),
                double d => ('r', d.ToString("R", CultureInfo.InvariantCulture)),
                byte[] b => ('b', Convert.ToHexString(b)),
                _ => throw new InvalidOperationException($"Filter parameter {name} has an unexpected type {value.GetType().Name}."),
            };
            key.Append('\n').Append(name).Append(type).Append(text.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(text);
        }

        return key.ToString();
    }

    private async Task<ReadSession> RentAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _sessions.TryTake(out var session) ? session : new ReadSession(await OpenAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Returns a session to the pool, or closes it when it failed (its state is unknown), the pool is full, or the store is disposed.</summary>
    private void Return(ReadSession session, bool healthy)
    {
        session.Transaction = null;
        if (healthy && Volatile.Read(ref _disposed) == 0 && _sessions.Count < MaxPooledSessions)
        {
            _sessions.Add(session);
        }
        else
        {
            session.Dispose();
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task InsertAttributesAsync(SqliteConnection connection, SqliteTransaction transaction, long rowid, AttributeSet attributes, CancellationToken cancellationToken)
    {
        await using var insert = Command(connection, transaction, "INSERT INTO chunk_attributes (chunk_rowid, name, kind, text, num) VALUES ($rowid, $name, $kind, $text, $num)");
        var pRowid = insert.Parameters.Add("$rowid", SqliteType.Integer);
        var pName = insert.Parameters.Add("$name", SqliteType.Text);
        var pKind = insert.Parameters.Add("$kind", SqliteType.Integer);
        var pText = insert.Parameters.Add("$text", SqliteType.Text);
        var pNum = insert.Parameters.Add("$num", SqliteType.Real);
        foreach (var (name, values) in attributes)
        {
            if (values.IsEmpty)
            {
                // An empty list is present: one marker row, which no leaf reads as a value.
                pRowid.Value = rowid;
                pName.Value = name;
                pKind.Value = KindRules.EmptyListKind;
                pText.Value = string.Empty;
                pNum.Value = DBNull.Value;
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            foreach (var value in values)
            {
                pRowid.Value = rowid;
                pName.Value = name;
                pKind.Value = (int)value.Kind;
                pText.Value = value.Text;
                pNum.Value = value.IsNumeric ? value.Number : DBNull.Value;
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Gets decoded chunks from the cache of <paramref name="revision"/>, loading (and caching) the rest.</summary>
    private async Task<Dictionary<long, Chunk>> GetChunksAsync(ReadSession session, long revision, long[] rowids, CancellationToken cancellationToken)
    {
        // A search whose snapshot is older than the cache (or newer than a concurrent replacement) reads from SQLite.
        var usable = CurrentCache(revision);
        var result = new Dictionary<long, Chunk>(rowids.Length);
        List<long>? missing = null;
        foreach (var rowid in rowids)
        {
            if (usable is not null && usable.Chunks.TryGetValue(rowid, out var cached))
            {
                result[rowid] = cached;
            }
            else
            {
                (missing ??= []).Add(rowid);
            }
        }

        if (missing is not null)
        {
            foreach (var (rowid, chunk) in await LoadAsync(session, missing, cancellationToken).ConfigureAwait(false))
            {
                result[rowid] = chunk;
                if (usable is not null && usable.Chunks.Count < MaxCachedChunks)
                {
                    usable.Chunks.TryAdd(rowid, chunk);
                }
            }
        }

        return result;
    }

    private async Task<Dictionary<long, Chunk>> LoadAsync(ReadSession session, IReadOnlyList<long> rowids, CancellationToken cancellationToken)
    {
        var result = new Dictionary<long, Chunk>(rowids.Count);
        if (rowids.Count == 0)
        {
            return result;
        }

        var ids = JsonSerializer.Serialize(rowids);
        var attributes = new Dictionary<long, AttributeSetBuilder>();
        {
            var command = session.Command("SELECT chunk_rowid, name, kind, text, num FROM chunk_attributes WHERE chunk_rowid IN (SELECT value FROM json_each($ids))");
            command.Parameters.AddWithValue("$ids", ids);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var name = reader.GetString(1);
                if (ResourceAttributeNames.Reserved.Contains(name))
                {
                    continue;
                }

                var rowid = reader.GetInt64(0);
                if (!attributes.TryGetValue(rowid, out var builder))
                {
                    attributes[rowid] = builder = new AttributeSetBuilder();
                }

                var kind = reader.GetInt32(2);
                if (kind == KindRules.EmptyListKind)
                {
                    builder.Declare(name);
                    continue;
                }

                var text = reader.GetString(3);
                builder.Add(name, (AttributeKind)kind switch
                {
                    AttributeKind.String => AttributeValue.FromString(text),
                    AttributeKind.Number => AttributeValue.FromNumber(reader.GetDouble(4)),
                    AttributeKind.Boolean => AttributeValue.FromBoolean(reader.GetDouble(4) != 0),
                    AttributeKind.Label => AttributeValue.FromLabel(text, (int)reader.GetDouble(4)),
                    AttributeKind.Timestamp => AttributeValue.FromTimestampMilliseconds(reader.GetDouble(4)),
                    _ => throw new InvalidDataException($"Unknown attribute kind {kind} in the store."),
                });
            }
        }

        {
            var command = session.Command("SELECT rowid, id, document_id, source, label, version, title, text, subjects, fields, row_schema FROM chunks WHERE rowid IN (SELECT value FROM json_each($ids))");
            command.Parameters.AddWithValue("$ids", ids);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var rowid = reader.GetInt64(0);
                var labelName = reader.GetString(4);
                if (!_labels.TryGet(labelName, out var label))
                {
                    throw new InvalidDataException($"Chunk '{reader.GetString(1)}' carries label '{labelName}', which is not in the taxonomy.");
                }

                result[rowid] = new Chunk
                {
                    Id = reader.GetString(1),
                    DocumentId = reader.GetString(2),
                    Source = reader.GetString(3),
                    Label = label,
                    Version = reader.GetInt32(5),
                    Title = reader.IsDBNull(6) ? null : reader.GetString(6),
                    Text = reader.GetString(7),
                    Subjects = reader.IsDBNull(8) ? [] : [.. JsonSerializer.Deserialize<string[]>(reader.GetString(8)) ?? []],
                    Fields = reader.IsDBNull(9) ? null : JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(reader.GetString(9))?.ToImmutableDictionary(StringComparer.Ordinal),
                    Attributes = attributes.TryGetValue(rowid, out var builder) ? builder.Build() : AttributeSet.Empty,
                    Schema = reader.IsDBNull(10) ? null : JsonSerializer.Deserialize<RowSchema>(reader.GetString(10)),
                };
            }
        }

        return result;
    }

    private static async Task<(long Generation, long Revision)> ReadVersionAsync(ReadSession session, CancellationToken cancellationToken)
    {
        var command = session.Command("SELECT key, value FROM meta WHERE key IN ('generation', 'revision')");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        long generation = 0, revision = 0;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.GetString(0) == "generation")
            {
                generation = reader.GetInt64(1);
            }
            else
            {
                revision = reader.GetInt64(1);
            }
        }

        return (generation, revision);
    }

    private async Task<VectorSnapshot> GetSnapshotAsync(ReadSession session, long generation, CancellationToken cancellationToken)
    {
        var snapshot = _snapshot;
        if (snapshot is not null && snapshot.Generation == generation)
        {
            return snapshot;
        }

        await _cacheLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_snapshot is not null && _snapshot.Generation == generation)
            {
                return _snapshot;
            }

            var rowids = new List<long>();
            var ids = new List<string>();
            var vectors = new List<float[]>();
            var command = session.Command("SELECT rowid, id, vector FROM chunks ORDER BY rowid");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rowids.Add(reader.GetInt64(0));
                ids.Add(reader.GetString(1));
                vectors.Add(MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(2)).ToArray());
            }

            return _snapshot = new VectorSnapshot(generation, [.. rowids], [.. ids], [.. vectors]);
        }
        finally
        {
            _cacheLock.Release();
        }
    }

    /// <summary>Decoded chunks valid at one store revision.</summary>
    private sealed class ChunkCache(long revision)
    {
        public long Revision { get; } = revision;

        public System.Collections.Concurrent.ConcurrentDictionary<long, Chunk> Chunks { get; } = new();

        /// <summary>Gets the passing rows of filters already run at this revision, by <see cref="FilterResultKey"/>.</summary>
        public System.Collections.Concurrent.ConcurrentDictionary<string, int[]> FilterResults { get; } = new(StringComparer.Ordinal);

        /// <summary>The rows held by <see cref="FilterResults"/>, bounded by <see cref="MaxCachedFilterRows"/>.</summary>
        public long CachedRows;
    }

    /// <summary>A pooled read connection that keeps its prepared statements, so repeated searches skip SQL parsing and
    /// planning; used by one search at a time.</summary>
    private sealed class ReadSession(SqliteConnection connection) : IDisposable
    {
        private const int MaxStatements = 64;
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public SqliteConnection Connection { get; } = connection;

        public SqliteTransaction? Transaction { get; set; }

        /// <summary>Gets the prepared command for the SQL text, with no parameters, in the session's transaction.
        /// The session owns it: callers dispose only the readers.</summary>
        public SqliteCommand Command(string sql)
        {
            if (!_commands.TryGetValue(sql, out var command))
            {
                if (_commands.Count >= MaxStatements)
                {
                    DisposeCommands();
                }

                command = Connection.CreateCommand();
                command.CommandText = sql;
                _commands[sql] = command;
            }

            command.Transaction = Transaction;
            command.Parameters.Clear();
            return command;
        }

        public void Dispose()
        {
            DisposeCommands();
            Connection.Dispose();
        }

        private void DisposeCommands()
        {
            foreach (var command in _commands.Values)
            {
                command.Dispose();
            }

            _commands.Clear();
        }
    }
}
