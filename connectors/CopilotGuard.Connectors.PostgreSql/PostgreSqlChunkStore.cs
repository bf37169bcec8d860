using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using Npgsql;
using NpgsqlTypes;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>A chunk store in PostgreSQL: chunks, their attributes and vectors, searched under the residual filter
/// compiled to parameterized SQL.</summary>
/// <remarks>
/// <para>
/// Attributes live in an entity-attribute-value table (<c>chunk_attributes</c>: name, kind, UTF-8 value bytes,
/// number), so any ingested attribute is filterable without a schema change. String values are compared as bytes,
/// which is ordinal comparison with no collation and lets U+0000 be a value like any other.
/// </para>
/// <para>
/// The chunk's own text columns (id, document id, source, title, text) and attribute names are PostgreSQL
/// <c>text</c>, which cannot hold U+0000: <see cref="UpsertAsync"/> refuses such chunks with an
/// <see cref="ArgumentException"/> before writing anything.
/// </para>
/// <para>
/// Vectors are ranked in SQL when the <c>vector</c> extension is installed (the SQL order selects candidates, which
/// are then scored exactly like every other store), otherwise in process over the rows that pass the filter, from a
/// vector cache that is reloaded when the store's generation changes. The instance is safe for concurrent use.
/// </para>
/// </remarks>
public sealed class PostgreSqlChunkStore : IChunkStore, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly LabelTaxonomy _labels;
    private readonly PostgreSqlChunkStoreOptions _options;
    private readonly string _chunks;
    private readonly string _attributes;
    private readonly string _meta;
    private readonly SemaphoreSlim _cacheLock = new(1, 1);
    private VectorSnapshot? _snapshot;
    private bool _usePgVector;

    /// <summary>Creates a store over a PostgreSQL data source.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public PostgreSqlChunkStore(NpgsqlDataSource dataSource, LabelTaxonomy labels, PostgreSqlChunkStoreOptions? options = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _options = options ?? new PostgreSqlChunkStoreOptions();
        _options.Validate();
        _chunks = $"{_options.Schema}.chunks";
        _attributes = $"{_options.Schema}.chunk_attributes";
        _meta = $"{_options.Schema}.store_meta";
    }

    /// <inheritdoc />
    public string Name => "postgresql";

    /// <inheritdoc />
    public FilterCapabilities Capabilities => FilterCapabilities.All;

    /// <summary>Gets whether searches rank vectors in SQL with the <c>vector</c> extension (known after initialization).</summary>
    public bool UsesPgVector => _usePgVector;

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await PostgreSqlSchemaLock.TakeAsync(connection, transaction, _options.Schema, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, $"""
            CREATE SCHEMA IF NOT EXISTS {_options.Schema};
            CREATE TABLE IF NOT EXISTS {_meta} (
                singleton boolean PRIMARY KEY DEFAULT TRUE CHECK (singleton),
                generation bigint NOT NULL);
            INSERT INTO {_meta} (singleton, generation) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
            CREATE TABLE IF NOT EXISTS {_chunks} (
                chunk_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text COLLATE "C" NOT NULL UNIQUE,
                document_id text COLLATE "C" NOT NULL,
                source text COLLATE "C" NOT NULL,
                label text NOT NULL,
                version integer NOT NULL,
                title text,
                body text NOT NULL,
                subjects text,
                fields text,
                embedding real[] NOT NULL);
            -- How a structured row's fields are labelled and rendered (stores created before it existed gain it here).
            ALTER TABLE {_chunks} ADD COLUMN IF NOT EXISTS row_schema text;
            CREATE INDEX IF NOT EXISTS ix_chunks_document ON {_chunks} (document_id);
            CREATE TABLE IF NOT EXISTS {_attributes} (
                chunk_key bigint NOT NULL REFERENCES {_chunks} (chunk_key) ON DELETE CASCADE,
                name text COLLATE "C" NOT NULL,
                kind smallint NOT NULL,
                value bytea NOT NULL,
                num double precision);
            CREATE INDEX IF NOT EXISTS ix_chunk_attributes_chunk ON {_attributes} (chunk_key, name);
            CREATE INDEX IF NOT EXISTS ix_chunk_attributes_value ON {_attributes} (name, value);
            CREATE INDEX IF NOT EXISTS ix_chunk_attributes_number ON {_attributes} (name, num);
            """, cancellationToken).ConfigureAwait(false);

        var hasExtension = _options.VectorSearch != PostgreSqlVectorSearch.InProcess && await TryCreateVectorExtensionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        if (_options.VectorSearch == PostgreSqlVectorSearch.PgVector && !hasExtension)
        {
            throw new InvalidOperationException("The PostgreSQL store is configured for pgvector, but the 'vector' extension is not installed in this database and could not be created (install the server package, e.g. postgresql-17-pgvector, then CREATE EXTENSION vector as a privileged user).");
        }

        _usePgVector = hasExtension && _options.VectorSearch != PostgreSqlVectorSearch.InProcess;
        if (_options.RowLevelSecurity)
        {
            // FORCE applies the policies to the table owner too; superusers and BYPASSRLS roles still skip them.
            await ExecuteAsync(connection, transaction, $"ALTER TABLE {_chunks} ENABLE ROW LEVEL SECURITY; ALTER TABLE {_chunks} FORCE ROW LEVEL SECURITY", cancellationToken).ConfigureAwait(false);
        }

        if (hasExtension)
        {
            // Kept in step with the real[] column whenever the extension is there, so switching modes needs no backfill;
            // rows written before the extension was installed get their vector here.
            await ExecuteAsync(connection, transaction, $"""
                ALTER TABLE {_chunks} ADD COLUMN IF NOT EXISTS embedding_vector vector;
                UPDATE {_chunks} SET embedding_vector = CAST(embedding AS vector) WHERE embedding_vector IS NULL;
                """, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns whether the <c>vector</c> extension is in the database, creating it when the server offers it
    /// and this role may (inside a savepoint, so a refusal leaves the initialization transaction usable).</summary>
    private static async Task<bool> TryCreateVectorExtensionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        if (await ScalarAsync(connection, transaction, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')", cancellationToken).ConfigureAwait(false) is true)
        {
            return true;
        }

        if (await ScalarAsync(connection, transaction, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')", cancellationToken).ConfigureAwait(false) is not true)
        {
            return false;
        }

        await transaction.SaveAsync("vector_extension", cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, transaction, "CREATE EXTENSION IF NOT EXISTS vector", cancellationToken).ConfigureAwait(false);
            await transaction.ReleaseAsync("vector_extension", cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (PostgresException)
        {
            // Typically insufficient privilege: search in process instead.
            await transaction.RollbackAsync("vector_extension", cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A chunk's text columns or attribute names hold U+0000, which PostgreSQL text cannot store.</exception>
    public async Task UpsertAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        foreach (var stored in chunks)
        {
            EnsureStorable(stored.Chunk);
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var hasVectorColumn = await ScalarAsync(connection, null, $"SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = '{_options.Schema}' AND table_name = 'chunks' AND column_name = 'embedding_vector')", cancellationToken).ConfigureAwait(false) is true;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var vectorColumn = hasVectorColumn ? ", embedding_vector" : string.Empty;
        var vectorValue = hasVectorColumn ? ", CAST(@embedding AS vector)" : string.Empty;
        var vectorUpdate = hasVectorColumn ? ", embedding_vector = EXCLUDED.embedding_vector" : string.Empty;
        foreach (var (chunk, vector) in chunks)
        {
            long key;
            await using (var upsert = new NpgsqlCommand($"""
                INSERT INTO {_chunks} (id, document_id, source, label, version, title, body, subjects, fields, row_schema, embedding{vectorColumn})
                VALUES (@id, @document, @source, @label, @version, @title, @body, @subjects, @fields, @schema, @embedding{vectorValue})
                ON CONFLICT (id) DO UPDATE SET document_id = EXCLUDED.document_id, source = EXCLUDED.source, label = EXCLUDED.label,
                    version = EXCLUDED.version, title = EXCLUDED.title, body = EXCLUDED.body, subjects = EXCLUDED.subjects,
                    fields = EXCLUDED.fields, row_schema = EXCLUDED.row_schema, embedding = EXCLUDED.embedding{vectorUpdate}
                RETURNING chunk_key
                """, connection, transaction))
            {
                upsert.Parameters.Add(new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = chunk.Id });
                upsert.Parameters.Add(new NpgsqlParameter<string>("document", NpgsqlDbType.Text) { TypedValue = chunk.DocumentId });
                upsert.Parameters.Add(new NpgsqlParameter<string>("source", NpgsqlDbType.Text) { TypedValue = chunk.Source });
                upsert.Parameters.Add(new NpgsqlParameter<string>("label", NpgsqlDbType.Text) { TypedValue = chunk.Label.Name });
                upsert.Parameters.Add(new NpgsqlParameter<int>("version", NpgsqlDbType.Integer) { TypedValue = chunk.Version });
                upsert.Parameters.Add(new NpgsqlParameter("title", NpgsqlDbType.Text) { Value = (object?)chunk.Title ?? DBNull.Value });
                upsert.Parameters.Add(new NpgsqlParameter<string>("body", NpgsqlDbType.Text) { TypedValue = chunk.Text });
                upsert.Parameters.Add(new NpgsqlParameter("subjects", NpgsqlDbType.Text) { Value = chunk.Subjects.IsDefaultOrEmpty ? DBNull.Value : JsonSerializer.Serialize(chunk.Subjects.ToArray()) });
                upsert.Parameters.Add(new NpgsqlParameter("fields", NpgsqlDbType.Text) { Value = chunk.Fields is null ? DBNull.Value : JsonSerializer.Serialize(chunk.Fields) });
                upsert.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text) { Value = chunk.Schema is null ? DBNull.Value : JsonSerializer.Serialize(chunk.Schema) });
                upsert.Parameters.Add(new NpgsqlParameter<float[]>("embedding", NpgsqlDbType.Array | NpgsqlDbType.Real) { TypedValue = vector.ToArray() });
                key = (long)(await upsert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            await ReplaceAttributesAsync(connection, transaction, key, chunk.ResourceAttributes, cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, transaction, $"UPDATE {_meta} SET generation = generation + 1", cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>With <see cref="PostgreSqlChunkStoreOptions.RowLevelSecurity"/>, the caller the row-level security
    /// policy reads is the query's <see cref="ChunkQuery.Caller"/> with its <see cref="ChunkQuery.RequestAttributes"/>
    /// (none when absent); a query without a caller sees no row (fail closed).</remarks>
    public Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var caller = query.Caller is { } principals ? new PostgreSqlCaller(principals, query.RequestAttributes ?? AttributeSet.Empty) : null;
        return SearchAsync(query, caller, cancellationToken);
    }

    /// <summary>Searches on behalf of a caller, whose attributes the row-level security policy reads.</summary>
    /// <remarks>The <paramref name="caller"/> given here is used, not <see cref="ChunkQuery.Caller"/>.</remarks>
    /// <param name="query">The query and its pushed-down filter.</param>
    /// <param name="caller">The caller; used only with <see cref="PostgreSqlChunkStoreOptions.RowLevelSecurity"/>, where
    /// <see langword="null"/> makes every row invisible (fail closed).</param>
    /// <param name="cancellationToken">Cancels the search.</param>
    public async Task<ChunkSearchResult> SearchAsync(ChunkQuery query, PostgreSqlCaller? caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(query.Top);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Skip);
        var filter = PostgreSqlFilterCompiler.Compile(query.Filter, _attributes);
        var native = PostgreSqlFilterCompiler.Describe(filter);
        if (filter.IsFalse)
        {
            return new ChunkSearchResult([], native, Exhausted: true);
        }

        var wanted = query.Skip + query.Top;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = _options.RowLevelSecurity ? await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false) : null;
        if (transaction is not null)
        {
            await using var setting = new NpgsqlCommand("SELECT set_config(@name, @caller, true)", connection, transaction);
            setting.Parameters.Add(new NpgsqlParameter<string>("name", NpgsqlDbType.Text) { TypedValue = PostgreSqlCaller.SettingName });
            setting.Parameters.Add(new NpgsqlParameter<string>("caller", NpgsqlDbType.Text) { TypedValue = caller?.ToJson() ?? string.Empty });
            await setting.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var (hits, passing) = _usePgVector
            ? await RankInSqlAsync(connection, filter, query.Vector, wanted, cancellationToken).ConfigureAwait(false)
            : transaction is not null
                ? await RankVisibleRowsAsync(connection, filter, query.Vector, cancellationToken).ConfigureAwait(false)
                : await RankInProcessAsync(connection, filter, query.Vector, cancellationToken).ConfigureAwait(false);

        var page = hits.Skip(query.Skip).Take(query.Top).ToList();
        var chunks = await LoadAsync(connection, [.. page.Select(static hit => hit.Key)], cancellationToken).ConfigureAwait(false);
        var results = new List<ScoredChunk>(page.Count);
        foreach (var hit in page)
        {
            if (chunks.TryGetValue(hit.Key, out var chunk))
            {
                results.Add(new ScoredChunk(chunk, hit.Score));
            }
        }

        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        return new ChunkSearchResult(results, native, passing <= wanted);
    }

    /// <inheritdoc />
    public async Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunkId);
        if (chunkId.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT chunk_key FROM {_chunks} WHERE id = @id", connection);
        command.Parameters.Add(new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = chunkId });
        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not long key)
        {
            return null;
        }

        var chunks = await LoadAsync(connection, [key], cancellationToken).ConfigureAwait(false);
        return chunks.GetValueOrDefault(key);
    }

    /// <inheritdoc />
    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return (long)(await ScalarAsync(connection, null, $"SELECT count(*) FROM {_chunks}", cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>>?> GetAttributeKindsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT DISTINCT name, kind FROM {_attributes}";
        var kinds = new Dictionary<string, HashSet<AttributeKind>>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var name = reader.GetString(0);
            if (!kinds.TryGetValue(name, out var set))
            {
                kinds[name] = set = [];
            }

            set.Add((AttributeKind)reader.GetInt16(1));
        }

        return kinds.ToDictionary(static pair => pair.Key, static pair => (IReadOnlySet<AttributeKind>)pair.Value, StringComparer.Ordinal);
    }

    /// <inheritdoc />
    /// <remarks>With <see cref="PostgreSqlChunkStoreOptions.RowLevelSecurity"/>, only the chunks the connecting role's
    /// policies let it see are listed.</remarks>
    public async Task<IReadOnlyList<Chunk>> GetDocumentAsync(string documentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        if (documentId.Contains('\0', StringComparison.Ordinal))
        {
            // PostgreSQL text cannot hold U+0000, so no stored document has such an id.
            return [];
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var keys = new List<long>();
        await using (var command = new NpgsqlCommand($"SELECT chunk_key FROM {_chunks} WHERE document_id = @document ORDER BY id", connection))
        {
            command.Parameters.Add(new NpgsqlParameter<string>("document", NpgsqlDbType.Text) { TypedValue = documentId });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                keys.Add(reader.GetInt64(0));
            }
        }

        var chunks = await LoadAsync(connection, [.. keys], cancellationToken).ConfigureAwait(false);
        return [.. keys.Where(chunks.ContainsKey).Select(key => chunks[key])];
    }

    /// <inheritdoc />
    /// <remarks>One statement in one transaction rewrites the <c>label</c> column and the <c>label</c> attribute row
    /// that the compiled filter (and a row-level security policy) reads, so no search sees a half-relabelled document.
    /// The vector cache holds only ids and vectors, which a relabel does not change, so it stays valid; labels are
    /// always read live. Returns how many chunks the document has (all of them are relabelled).</remarks>
    /// <exception cref="ArgumentException">The label name holds U+0000, which PostgreSQL text cannot store.</exception>
    public async Task<int> SetDocumentLabelAsync(string documentId, SensitivityLabel label, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        ArgumentNullException.ThrowIfNull(label);
        if (label.Name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The label name holds U+0000, which PostgreSQL text cannot store.", nameof(label));
        }

        if (documentId.Contains('\0', StringComparison.Ordinal))
        {
            // PostgreSQL text cannot hold U+0000, so no stored document has such an id.
            return 0;
        }

        var value = label.ToAttributeValue();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        long changed;
        await using (var update = new NpgsqlCommand($"""
            WITH changed AS (UPDATE {_chunks} SET label = @label WHERE document_id = @document RETURNING chunk_key),
                 removed AS (DELETE FROM {_attributes} a USING changed WHERE a.chunk_key = changed.chunk_key AND a.name = @name),
                 added AS (INSERT INTO {_attributes} (chunk_key, name, kind, value, num) SELECT chunk_key, @name, @kind, @value, @rank FROM changed)
            SELECT count(*) FROM changed
            """, connection, transaction))
        {
            update.Parameters.Add(new NpgsqlParameter<string>("label", NpgsqlDbType.Text) { TypedValue = label.Name });
            update.Parameters.Add(new NpgsqlParameter<string>("document", NpgsqlDbType.Text) { TypedValue = documentId });
            update.Parameters.Add(new NpgsqlParameter<string>("name", NpgsqlDbType.Text) { TypedValue = ResourceAttributeNames.Label });
            update.Parameters.Add(new NpgsqlParameter<short>("kind", NpgsqlDbType.Smallint) { TypedValue = (short)value.Kind });
            update.Parameters.Add(new NpgsqlParameter<byte[]>("value", NpgsqlDbType.Bytea) { TypedValue = Encoding.UTF8.GetBytes(value.Text) });
            update.Parameters.Add(new NpgsqlParameter<double>("rank", NpgsqlDbType.Double) { TypedValue = value.Number });
            changed = (long)(await update.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return checked((int)changed);
    }

    /// <inheritdoc />
    public string DescribeFilter(FilterNode filter) => PostgreSqlFilterCompiler.Describe(PostgreSqlFilterCompiler.Compile(filter, _attributes));

    /// <inheritdoc />
    public void Dispose() => _cacheLock.Dispose();

    private static void EnsureStorable(Chunk chunk)
    {
        var problems = new List<string>();
        Check(chunk.Id, "id");
        Check(chunk.DocumentId, "documentId");
        Check(chunk.Source, "source");
        Check(chunk.Label.Name, "label");
        Check(chunk.Title, "title");
        Check(chunk.Text, "text");
        foreach (var name in chunk.Attributes.Names)
        {
            Check(name, "an attribute name");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException($"Chunk '{chunk.Id.Replace("\0", "\\u0000", StringComparison.Ordinal)}' cannot be stored in PostgreSQL: {string.Join(", ", problems)} hold U+0000, which PostgreSQL text cannot store (attribute values may hold it).", nameof(chunk));
        }

        void Check(string? value, string field)
        {
            if (value is not null && value.Contains('\0', StringComparison.Ordinal))
            {
                problems.Add(field);
            }
        }
    }

    private async Task ReplaceAttributesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long key, AttributeSet attributes, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        var kinds = new List<short>();
        var values = new List<byte[]>();
        var numbers = new List<double?>();
        foreach (var (name, list) in attributes)
        {
            if (list.IsEmpty)
            {
                // An empty list is present: one marker row, which no leaf reads as a value.
                names.Add(name);
                kinds.Add(KindRules.EmptyListKind);
                values.Add([]);
                numbers.Add(null);
                continue;
            }

            foreach (var value in list)
            {
                names.Add(name);
                kinds.Add((short)value.Kind);
                values.Add(Encoding.UTF8.GetBytes(value.Text));
                numbers.Add(value.IsNumeric ? value.Number : null);
            }
        }

        await using var command = new NpgsqlCommand($"""
            DELETE FROM {_attributes} WHERE chunk_key = @key;
            INSERT INTO {_attributes} (chunk_key, name, kind, value, num)
            SELECT @key, t.name, t.kind, t.value, t.num FROM unnest(@names, @kinds, @values, @nums) AS t (name, kind, value, num);
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<long>("key", NpgsqlDbType.Bigint) { TypedValue = key });
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. names] });
        command.Parameters.Add(new NpgsqlParameter<short[]>("kinds", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { TypedValue = [.. kinds] });
        command.Parameters.Add(new NpgsqlParameter<byte[][]>("values", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { TypedValue = [.. values] });
        command.Parameters.Add(new NpgsqlParameter<double?[]>("nums", NpgsqlDbType.Array | NpgsqlDbType.Double) { TypedValue = [.. numbers] });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<(List<(long Key, string Id, double Score)> Hits, int Passing)> RankInProcessAsync(
        NpgsqlConnection connection, PostgreSqlFilter filter, ReadOnlyMemory<float> vector, CancellationToken cancellationToken)
    {
        var snapshot = await GetSnapshotAsync(connection, cancellationToken).ConfigureAwait(false);
        var hits = new List<(long Key, string Id, double Score)>();
        await using (var command = FilterCommand(connection, $"SELECT c.chunk_key FROM {_chunks} c WHERE {filter.Sql}", filter))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var key = reader.GetInt64(0);
                if (snapshot.Rows.TryGetValue(key, out var row))
                {
                    hits.Add((key, row.Id, VectorSnapshot.Score(vector.Span, row.Vector)));
                }
            }
        }

        VectorSnapshot.Sort(hits);
        return (hits, hits.Count);
    }

    /// <summary>Ranks in process over the rows the filter and the row-level security policy let through, reading their
    /// vectors in the same query (the shared cache would hold rows another caller may not see).</summary>
    private async Task<(List<(long Key, string Id, double Score)> Hits, int Passing)> RankVisibleRowsAsync(
        NpgsqlConnection connection, PostgreSqlFilter filter, ReadOnlyMemory<float> vector, CancellationToken cancellationToken)
    {
        var hits = new List<(long Key, string Id, double Score)>();
        await using (var command = FilterCommand(connection, $"SELECT c.chunk_key, c.id, c.embedding FROM {_chunks} c WHERE {filter.Sql}", filter))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                hits.Add((reader.GetInt64(0), reader.GetString(1), VectorSnapshot.Score(vector.Span, reader.GetFieldValue<float[]>(2))));
            }
        }

        VectorSnapshot.Sort(hits);
        return (hits, hits.Count);
    }

    private async Task<(List<(long Key, string Id, double Score)> Hits, int Passing)> RankInSqlAsync(
        NpgsqlConnection connection, PostgreSqlFilter filter, ReadOnlyMemory<float> vector, int wanted, CancellationToken cancellationToken)
    {
        // pgvector orders the candidates; a margin beyond the page absorbs float differences near the cut, and the
        // candidates are then scored and ordered exactly like every other store.
        var limit = wanted + Math.Max(16, wanted);
        var sql = $"""
            SELECT c.chunk_key, c.id, c.embedding FROM {_chunks} c WHERE {filter.Sql}
            ORDER BY c.embedding_vector <=> CAST(@query_vector AS vector), c.id LIMIT @query_limit
            """;
        await using var command = FilterCommand(connection, sql, filter);
        command.Parameters.Add(new NpgsqlParameter<float[]>("query_vector", NpgsqlDbType.Array | NpgsqlDbType.Real) { TypedValue = vector.ToArray() });
        command.Parameters.Add(new NpgsqlParameter<int>("query_limit", NpgsqlDbType.Integer) { TypedValue = limit });
        var hits = new List<(long Key, string Id, double Score)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                hits.Add((reader.GetInt64(0), reader.GetString(1), VectorSnapshot.Score(vector.Span, reader.GetFieldValue<float[]>(2))));
            }
        }

        VectorSnapshot.Sort(hits);
        return (hits, hits.Count < limit ? hits.Count : int.MaxValue);
    }

    private static NpgsqlCommand FilterCommand(NpgsqlConnection connection, string sql, PostgreSqlFilter filter)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in filter.Parameters)
        {
            command.Parameters.Add(new NpgsqlParameter(parameter.Name, parameter.Type) { Value = parameter.Value });
        }

        return command;
    }

    private async Task<VectorSnapshot> GetSnapshotAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var generation = (long)(await ScalarAsync(connection, null, $"SELECT generation FROM {_meta}", cancellationToken).ConfigureAwait(false) ?? 0L);
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

            // Read vectors and generation in one snapshot so a concurrent upsert cannot pair new rows with an old number.
            await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            var current = (long)(await ScalarAsync(connection, transaction, $"SELECT generation FROM {_meta}", cancellationToken).ConfigureAwait(false) ?? 0L);
            var rows = new Dictionary<long, (string Id, float[] Vector)>();
            await using (var command = new NpgsqlCommand($"SELECT chunk_key, id, embedding FROM {_chunks}", connection, transaction))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows[reader.GetInt64(0)] = (reader.GetString(1), reader.GetFieldValue<float[]>(2));
                }
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return _snapshot = new VectorSnapshot(current, rows);
        }
        finally
        {
            _cacheLock.Release();
        }
    }

    private async Task<Dictionary<long, Chunk>> LoadAsync(NpgsqlConnection connection, long[] keys, CancellationToken cancellationToken)
    {
        var result = new Dictionary<long, Chunk>(keys.Length);
        if (keys.Length == 0)
        {
            return result;
        }

        var attributes = new Dictionary<long, AttributeSetBuilder>();
        await using (var command = new NpgsqlCommand($"SELECT chunk_key, name, kind, value, num FROM {_attributes} WHERE chunk_key = ANY(@keys)", connection))
        {
            command.Parameters.Add(new NpgsqlParameter<long[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = keys });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var name = reader.GetString(1);
                if (ResourceAttributeNames.Reserved.Contains(name))
                {
                    continue;
                }

                var key = reader.GetInt64(0);
                if (!attributes.TryGetValue(key, out var builder))
                {
                    attributes[key] = builder = new AttributeSetBuilder();
                }

                var kind = reader.GetInt16(2);
                if (kind == KindRules.EmptyListKind)
                {
                    builder.Declare(name);
                    continue;
                }

                var text = Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(3));
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

        await using (var command = new NpgsqlCommand($"SELECT chunk_key, id, document_id, source, label, version, title, body, subjects, fields, row_schema FROM {_chunks} WHERE chunk_key = ANY(@keys)", connection))
        {
            command.Parameters.Add(new NpgsqlParameter<long[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = keys });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var key = reader.GetInt64(0);
                var labelName = reader.GetString(4);
                if (!_labels.TryGet(labelName, out var label))
                {
                    throw new InvalidDataException($"Chunk '{reader.GetString(1)}' carries label '{labelName}', which is not in the taxonomy.");
                }

                result[key] = new Chunk
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
                    Attributes = attributes.TryGetValue(key, out var builder) ? builder.Build() : AttributeSet.Empty,
                    Schema = reader.IsDBNull(10) ? null : JsonSerializer.Deserialize<RowSchema>(reader.GetString(10)),
                };
            }
        }

        return result;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }
}
