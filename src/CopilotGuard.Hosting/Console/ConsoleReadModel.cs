using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Hosting;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Hosting.ComplianceConsole;

/// <summary>Which retrievals an access timeline shows.</summary>
/// <param name="DocumentId">The document (or null for a data subject).</param>
/// <param name="SubjectId">The data subject (or null for a document).</param>
/// <param name="From">Only retrievals at or after this time.</param>
/// <param name="To">Only retrievals before this time.</param>
/// <param name="Principal">Only retrievals by this principal (as subject or agent).</param>
/// <param name="Purpose">Only retrievals with this declared purpose.</param>
internal sealed record AccessFilter(string? DocumentId, string? SubjectId, DateTimeOffset? From, DateTimeOffset? To, string? Principal, string? Purpose);

/// <summary>Answers the console's aggregate and filtered questions with SQL over the embedded audit log and chunk store,
/// so nothing is loaded whole: every list is paged by an indexed key and every chart is a <c>GROUP BY</c>.</summary>
/// <remarks>Connections are read-only; the audit log's own writer is never involved. Record fields that the audit
/// table does not index (kind, decision, target, chunks) are read with SQLite's JSON functions from the hashed payload,
/// so what the console shows is exactly what <c>audit verify</c> checks. Every value reaches SQL as a parameter.
/// When the store or the audit log is not the embedded SQLite one, the views that need it throw
/// <see cref="ConsoleViewUnavailableException"/> (501, naming the setting) before anything is read, rather than show
/// the data folder's stale or empty files; a trace then reads its documents through the chunk store itself.</remarks>
internal sealed class ConsoleReadModel(CopilotGuardRuntime runtime)
{
    /// <summary>The largest page a console list returns.</summary>
    public const int MaxLimit = AuditPageRequest.MaxLimit;

    private readonly string _audit = new SqliteConnectionStringBuilder { DataSource = runtime.Data.AuditPath, Mode = SqliteOpenMode.ReadOnly, DefaultTimeout = 30 }.ToString();
    private readonly string _store = new SqliteConnectionStringBuilder { DataSource = runtime.Data.StorePath, Mode = SqliteOpenMode.ReadOnly, DefaultTimeout = 30 }.ToString();

    /// <summary>Gets whether the store views can be served (the store is the embedded SQLite one).</summary>
    public bool HasSqliteStore => runtime.Providers.Store.Name == StoreSettings.Sqlite;

    /// <summary>Gets whether the audit views can be served (the audit log is the embedded SQLite one).</summary>
    public bool HasSqliteAudit => runtime.Providers.Audit.Name == AuditSettings.Sqlite;

    /// <summary>Throws unless the store views can be served.</summary>
    /// <exception cref="ConsoleViewUnavailableException">The store is not SQLite.</exception>
    public void RequireStore()
    {
        if (!HasSqliteStore)
        {
            throw new ConsoleViewUnavailableException(
                $"This console view reads the embedded SQLite chunk store, but {ProviderSettings.StoreSection}:Provider is '{runtime.Providers.Store.Name}'. " +
                "Traces and the audit views still work.");
        }
    }

    /// <summary>Throws unless the audit views can be served.</summary>
    /// <exception cref="ConsoleViewUnavailableException">The audit log is not SQLite.</exception>
    public void RequireAudit()
    {
        if (!HasSqliteAudit)
        {
            throw new ConsoleViewUnavailableException(
                $"This console view reads the embedded SQLite audit log, but {ProviderSettings.AuditSection}:Provider is '{runtime.Providers.Audit.Name}'. " +
                "Traces, verification (POST /v1/console/verify) and the audit API (GET /v1/audit/...) still work.");
        }
    }

    /// <summary>Lists the sources whose chunks name the principal as their owner.</summary>
    public async Task<List<string>> GetOwnedSourcesAsync(string principalId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenStoreAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT DISTINCT c.source FROM chunks c
            WHERE EXISTS (SELECT 1 FROM chunk_attributes a WHERE a.chunk_rowid = c.rowid AND a.name = 'owner' AND a.kind = 0 AND a.text = $owner)
            ORDER BY c.source
            """;
        command.Parameters.AddWithValue("$owner", principalId);
        var sources = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            sources.Add(reader.GetString(0));
        }

        return sources;
    }

    /// <summary>Counts the documents carrying each label, and lists the sources (only <paramref name="onlySources"/>, when given).</summary>
    public async Task<(Dictionary<string, long> Documents, List<string> Sources)> CountLabelsAsync(CancellationToken cancellationToken, IReadOnlySet<string>? onlySources = null)
    {
        await using var connection = await OpenStoreAsync(cancellationToken).ConfigureAwait(false);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var sourceList = onlySources is null ? null : System.Text.Json.JsonSerializer.Serialize(onlySources);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT label, count(DISTINCT document_id) FROM chunks WHERE $sources IS NULL OR source IN (SELECT value FROM json_each($sources)) GROUP BY label";
            command.Parameters.AddWithValue("$sources", (object?)sourceList ?? DBNull.Value);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                counts[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        var sources = new List<string>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT DISTINCT source FROM chunks WHERE $sources IS NULL OR source IN (SELECT value FROM json_each($sources)) ORDER BY source";
            command.Parameters.AddWithValue("$sources", (object?)sourceList ?? DBNull.Value);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                sources.Add(reader.GetString(0));
            }
        }

        return (counts, sources);
    }

    /// <summary>Lists documents by id, optionally only those with a chunk of a label or from a source.</summary>
    public async Task<(List<ConsoleDocument> Documents, string? Next)> ListDocumentsAsync(string? label, string? source, int limit, string? afterDocumentId, CancellationToken cancellationToken, IReadOnlySet<string>? onlySources = null)
    {
        await using var connection = await OpenStoreAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT document_id, min(source), min(title), group_concat(DISTINCT label), max(version), count(*)
            FROM chunks
            WHERE document_id > $after AND ($source IS NULL OR source = $source)
              AND ($sources IS NULL OR source IN (SELECT value FROM json_each($sources)))
            GROUP BY document_id
            HAVING $label IS NULL OR sum(label = $label) > 0
            ORDER BY document_id
            LIMIT $limit
            """;
        command.Parameters.AddWithValue("$after", afterDocumentId ?? string.Empty);
        command.Parameters.AddWithValue("$source", (object?)source ?? DBNull.Value);
        command.Parameters.AddWithValue("$label", (object?)label ?? DBNull.Value);
        command.Parameters.AddWithValue("$limit", limit + 1);
        command.Parameters.AddWithValue("$sources", onlySources is null ? DBNull.Value : System.Text.Json.JsonSerializer.Serialize(onlySources));
        var documents = await ReadDocumentsAsync(command, cancellationToken).ConfigureAwait(false);
        if (documents.Count <= limit)
        {
            return (documents, null);
        }

        documents.RemoveAt(documents.Count - 1);
        return (documents, documents[^1].DocumentId);
    }

    /// <summary>Gets the documents with these ids that still exist.</summary>
    public async Task<List<ConsoleDocument>> GetDocumentsAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken)
    {
        if (documentIds.Count == 0)
        {
            return [];
        }

        if (!HasSqliteStore)
        {
            return await GetDocumentsFromStoreAsync(documentIds, cancellationToken).ConfigureAwait(false);
        }

        await using var connection = await OpenStoreAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT document_id, min(source), min(title), group_concat(DISTINCT label), max(version), count(*)
            FROM chunks
            WHERE document_id IN (SELECT value FROM json_each($ids))
            GROUP BY document_id
            ORDER BY document_id
            """;
        command.Parameters.AddWithValue("$ids", System.Text.Json.JsonSerializer.Serialize(documentIds, ConsoleReadModelJson.Default.IReadOnlyCollectionString));
        return await ReadDocumentsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists the <c>label-change</c> records of a document, oldest first.</summary>
    public async Task<(List<LabelChange> Changes, long? Next)> GetLabelHistoryAsync(string documentId, int limit, long afterSequence, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAuditAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        // The instr() test skips parsing records that cannot match; the JSON test then decides exactly.
        command.CommandText = """
            SELECT seq, record_id, time, subject_id, json_extract(p, '$.decision')
            FROM (SELECT seq, record_id, time, subject_id, CAST(payload AS TEXT) AS p FROM audit_log WHERE seq > $after)
            WHERE instr(p, '"label-change"') > 0
              AND json_extract(p, '$.kind') = 'label-change'
              AND json_extract(p, '$.target') = $target
            ORDER BY seq
            LIMIT $limit
            """;
        command.Parameters.AddWithValue("$after", afterSequence);
        command.Parameters.AddWithValue("$target", "document:" + documentId);
        command.Parameters.AddWithValue("$limit", limit + 1);
        var changes = new List<LabelChange>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // The decision reads "Previous|Labels -> New".
                var decision = reader.IsDBNull(4) ? string.Empty : reader.GetString(4);
                var arrow = decision.LastIndexOf(" -> ", StringComparison.Ordinal);
                var previous = arrow < 0 ? [] : decision[..arrow].Split('|', StringSplitOptions.RemoveEmptyEntries).ToImmutableArray();
                changes.Add(new LabelChange(reader.GetString(1), reader.GetInt64(0), ParseTime(reader.GetString(2)), reader.GetString(3), previous, arrow < 0 ? decision : decision[(arrow + 4)..]));
            }
        }

        if (changes.Count <= limit)
        {
            return (changes, null);
        }

        changes.RemoveAt(changes.Count - 1);
        return (changes, changes[^1].Sequence);
    }

    /// <summary>Lists the retrievals that returned a document or data about a subject, filtered, oldest first.</summary>
    public async Task<(List<AuditEntry> Entries, long? Next)> GetAccessesAsync(AccessFilter filter, int limit, long afterSequence, CancellationToken cancellationToken)
    {
        // The log writes index rows behind its appends; have every committed entry indexed before reading the tables.
        if (runtime.Audit is SqliteAuditLog log)
        {
            await log.EnsureIndexedAsync(cancellationToken).ConfigureAwait(false);
        }

        await using var connection = await OpenAuditAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder(filter.DocumentId is not null
            ? "SELECT seq, hash, payload FROM audit_log WHERE seq IN (SELECT seq FROM audit_documents WHERE document_id = $key AND seq > $after)"
            : "SELECT seq, hash, payload FROM audit_log WHERE seq IN (SELECT seq FROM audit_subjects WHERE subject_id = $key AND seq > $after)");
        command.Parameters.AddWithValue("$key", filter.DocumentId ?? filter.SubjectId ?? string.Empty);
        command.Parameters.AddWithValue("$after", afterSequence);
        if (filter.From is { } from)
        {
            sql.Append(" AND time >= $from");
            command.Parameters.AddWithValue("$from", FormatTime(from));
        }

        if (filter.To is { } to)
        {
            sql.Append(" AND time < $to");
            command.Parameters.AddWithValue("$to", FormatTime(to));
        }

        if (filter.Principal is { } principal)
        {
            sql.Append(" AND (subject_id = $principal OR json_extract(CAST(payload AS TEXT), '$.actorId') = $principal)");
            command.Parameters.AddWithValue("$principal", principal);
        }

        if (filter.Purpose is { } purpose)
        {
            sql.Append(" AND json_extract(CAST(payload AS TEXT), '$.purpose') = $purpose");
            command.Parameters.AddWithValue("$purpose", purpose);
        }

        sql.Append(" ORDER BY seq LIMIT $limit");
        command.Parameters.AddWithValue("$limit", limit + 1);
        command.CommandText = sql.ToString();
        var entries = new List<AuditEntry>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(new AuditEntry(reader.GetInt64(0), reader.GetString(1), AuditJson.Deserialize((byte[])reader.GetValue(2))));
            }
        }

        if (entries.Count <= limit)
        {
            return (entries, null);
        }

        entries.RemoveAt(entries.Count - 1);
        return (entries, entries[^1].Sequence);
    }

    /// <summary>Counts records per time bucket, kind and decision, and released chunks per bucket, source and label.</summary>
    public async Task<ActivityResponse> GetActivityAsync(DateTimeOffset from, DateTimeOffset to, ActivityBucketSize size, CancellationToken cancellationToken)
    {
        var buckets = new SortedDictionary<string, BucketCounts>(StringComparer.Ordinal);
        for (var start = size.Floor(from); start < to; start = size.Next(start))
        {
            buckets[size.Key(start)] = new BucketCounts(start);
        }

        var kinds = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var documentsSeen = new HashSet<string>(StringComparer.Ordinal);
        var chunkRows = new List<(string Bucket, string Label, string DocumentId, long Count)>();
        await using (var connection = await OpenAuditAsync(cancellationToken).ConfigureAwait(false))
        {
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = """
                    SELECT substr(time, 1, $width) AS b, json_extract(p, '$.kind') AS k, json_extract(p, '$.decision') AS d, count(*),
                           sum(json_array_length(p, '$.postFilterDrops')),
                           sum(CASE WHEN json_extract(p, '$.pushdownExact') THEN json_array_length(p, '$.postFilterDrops') ELSE 0 END)
                    FROM (SELECT time, CAST(payload AS TEXT) AS p FROM audit_log WHERE time >= $from AND time < $to)
                    GROUP BY b, k, d
                    """;
                AddRange(command, from, to, size);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var kind = reader.IsDBNull(1) ? "unknown" : reader.GetString(1);
                    var decision = reader.IsDBNull(2) ? string.Empty : reader.GetString(2);
                    var count = reader.GetInt64(3);
                    kinds[kind] = kinds.GetValueOrDefault(kind) + count;
                    if (!buckets.TryGetValue(reader.GetString(0), out var bucket))
                    {
                        continue;
                    }

                    bucket.Add(kind, decision, count, reader.IsDBNull(4) ? 0 : reader.GetInt64(4), reader.IsDBNull(5) ? 0 : reader.GetInt64(5));
                }
            }

            await using (var command = connection.CreateCommand())
            {
                command.CommandText = """
                    SELECT substr(l.time, 1, $width) AS b, json_extract(c.value, '$.label') AS label, json_extract(c.value, '$.documentId') AS doc, count(*)
                    FROM audit_log AS l, json_each(CAST(l.payload AS TEXT), '$.chunks') AS c
                    WHERE l.time >= $from AND l.time < $to
                    GROUP BY b, label, doc
                    """;
                AddRange(command, from, to, size);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var row = (reader.GetString(0), reader.IsDBNull(1) ? "?" : reader.GetString(1), reader.IsDBNull(2) ? "?" : reader.GetString(2), reader.GetInt64(3));
                    chunkRows.Add(row);
                    documentsSeen.Add(row.Item3);
                }
            }
        }

        var sources = (await GetDocumentsAsync(documentsSeen, cancellationToken).ConfigureAwait(false)).ToDictionary(static d => d.DocumentId, static d => d.Source, StringComparer.Ordinal);
        foreach (var (key, label, documentId, count) in chunkRows)
        {
            if (buckets.TryGetValue(key, out var bucket))
            {
                bucket.AddChunks(sources.GetValueOrDefault(documentId) ?? "(deleted)", label, count);
            }
        }

        return new ActivityResponse(from, to, size.Name, [.. buckets.Values.Select(static b => b.ToBucket())], kinds.ToImmutableSortedDictionary(StringComparer.Ordinal));
    }

    /// <summary>Lists records of some kinds, newest first.</summary>
    public async Task<(List<ConsoleEvent> Events, long? Next)> GetEventsAsync(IReadOnlyCollection<string> kinds, string? principal, DateTimeOffset? from, DateTimeOffset? to, int limit, long? beforeSequence, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAuditAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder("""
            SELECT seq, payload FROM audit_log
            WHERE seq < $before
              AND json_extract(CAST(payload AS TEXT), '$.kind') IN (SELECT value FROM json_each($kinds))
            """);
        command.Parameters.AddWithValue("$before", beforeSequence ?? long.MaxValue);
        command.Parameters.AddWithValue("$kinds", System.Text.Json.JsonSerializer.Serialize(kinds, ConsoleReadModelJson.Default.IReadOnlyCollectionString));
        if (from is { } start)
        {
            sql.Append(" AND time >= $from");
            command.Parameters.AddWithValue("$from", FormatTime(start));
        }

        if (to is { } end)
        {
            sql.Append(" AND time < $to");
            command.Parameters.AddWithValue("$to", FormatTime(end));
        }

        if (principal is not null)
        {
            sql.Append(" AND (subject_id = $principal OR json_extract(CAST(payload AS TEXT), '$.actorId') = $principal)");
            command.Parameters.AddWithValue("$principal", principal);
        }

        sql.Append(" ORDER BY seq DESC LIMIT $limit");
        command.Parameters.AddWithValue("$limit", limit + 1);
        command.CommandText = sql.ToString();
        var events = new List<ConsoleEvent>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var record = AuditJson.Deserialize((byte[])reader.GetValue(1));
                events.Add(new ConsoleEvent(record.RecordId, reader.GetInt64(0), record.Time, record.Kind, record.SubjectId, record.ActorId, record.Decision, record.Target, record.Purpose));
            }
        }

        if (events.Count <= limit)
        {
            return (events, null);
        }

        events.RemoveAt(events.Count - 1);
        return (events, events[^1].Sequence);
    }

    /// <summary>Reads the log's size, head and latest signed checkpoint.</summary>
    public async Task<(long Records, string Head, long Checkpoints, ConsoleCheckpoint? Latest)> GetIntegrityAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAuditAsync(cancellationToken).ConfigureAwait(false);
        long records = 0;
        var head = string.Empty;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                records = reader.GetInt64(0);
                head = reader.GetString(1);
            }
        }

        long count;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT count(*) FROM audit_checkpoints";
            count = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L);
        }

        ConsoleCheckpoint? latest = null;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT tree_size, time, chain_head, merkle_root, key_id, signature FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                latest = new ConsoleCheckpoint(reader.GetInt64(0), ParseTime(reader.GetString(1)), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5));
            }
        }

        return (records, head, count, latest);
    }

    private static async Task<List<ConsoleDocument>> ReadDocumentsAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var documents = new List<ConsoleDocument>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            documents.Add(new ConsoleDocument(
                reader.GetString(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                [.. reader.GetString(3).Split(',').Order(StringComparer.Ordinal)],
                reader.GetInt32(4),
                reader.GetInt32(5)));
        }

        return documents;
    }

    private static void AddRange(SqliteCommand command, DateTimeOffset from, DateTimeOffset to, ActivityBucketSize size)
    {
        command.Parameters.AddWithValue("$width", size.KeyLength);
        command.Parameters.AddWithValue("$from", FormatTime(from));
        command.Parameters.AddWithValue("$to", FormatTime(to));
    }

    /// <summary>Formats a time as the audit table stores it (round-trip, UTC), so text comparison orders by time.</summary>
    private static string FormatTime(DateTimeOffset time) => time.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    /// <summary>Gets documents through the chunk store's own API, for a store the console cannot query in SQL.</summary>
    /// <exception cref="ConsoleViewUnavailableException">The store cannot list a document's chunks.</exception>
    private async Task<List<ConsoleDocument>> GetDocumentsFromStoreAsync(IReadOnlyCollection<string> documentIds, CancellationToken cancellationToken)
    {
        var documents = new List<ConsoleDocument>();
        foreach (var id in documentIds.Order(StringComparer.Ordinal))
        {
            IReadOnlyList<CopilotGuard.Retrieval.Chunk> chunks;
            try
            {
                chunks = await runtime.Store.GetDocumentAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (NotSupportedException exception)
            {
                throw new ConsoleViewUnavailableException($"{exception.Message} ({ProviderSettings.StoreSection}:Provider is '{runtime.Providers.Store.Name}'.)", exception);
            }

            if (chunks.Count > 0)
            {
                documents.Add(new ConsoleDocument(
                    id,
                    chunks.Select(static c => c.Source).Min(StringComparer.Ordinal)!,
                    chunks.Select(static c => c.Title).Where(static t => t is not null).Min(StringComparer.Ordinal),
                    [.. chunks.Select(static c => c.Label.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
                    chunks.Max(static c => c.Version),
                    chunks.Count));
            }
        }

        return documents;
    }

    private Task<SqliteConnection> OpenStoreAsync(CancellationToken cancellationToken)
    {
        RequireStore();
        return OpenAsync(_store, cancellationToken);
    }

    private Task<SqliteConnection> OpenAuditAsync(CancellationToken cancellationToken)
    {
        RequireAudit();
        return OpenAsync(_audit, cancellationToken);
    }

    private static async Task<SqliteConnection> OpenAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    private sealed class BucketCounts(DateTimeOffset start)
    {
        private readonly SortedDictionary<string, long> _sources = new(StringComparer.Ordinal);
        private readonly SortedDictionary<string, long> _labels = new(StringComparer.Ordinal);
        private long _retrievals, _denials, _drops, _misses, _anomalies, _suspensions, _resumptions, _labelChanges, _auditQueries;

        public void Add(string kind, string decision, long count, long drops, long misses)
        {
            _drops += drops;
            _misses += misses;
            switch (kind)
            {
                case AuditRecordKinds.Retrieval:
                    _retrievals += count;
                    _denials += decision == "none" ? count : 0;
                    break;
                case AuditRecordKinds.AuditQuery:
                    _auditQueries += count;
                    _denials += decision == "denied" ? count : 0;
                    break;
                case "deanonymize":
                    _denials += decision == "refused" ? count : 0;
                    break;
                case "anomaly-alert":
                    _anomalies += count;
                    break;
                case "admin-suspend":
                    _suspensions += count;
                    break;
                case "admin-resume":
                    _resumptions += count;
                    break;
                case "label-change":
                    _labelChanges += count;
                    break;
                default:
                    break;
            }
        }

        public void AddChunks(string source, string label, long count)
        {
            _sources[source] = _sources.GetValueOrDefault(source) + count;
            _labels[label] = _labels.GetValueOrDefault(label) + count;
        }

        public ActivityBucket ToBucket() => new(
            start, _retrievals, _denials, _drops, _misses, _anomalies, _suspensions, _resumptions, _labelChanges, _auditQueries,
            _sources.ToImmutableSortedDictionary(StringComparer.Ordinal), _labels.ToImmutableSortedDictionary(StringComparer.Ordinal));
    }
}

/// <summary>A bucket size of the activity charts, keyed by a prefix of the stored round-trip time text.</summary>
/// <param name="Name">The name: <c>minute</c>, <c>hour</c> or <c>day</c>.</param>
/// <param name="Step">The bucket length.</param>
/// <param name="KeyLength">How many leading characters of the stored time name the bucket.</param>
internal sealed record ActivityBucketSize(string Name, TimeSpan Step, int KeyLength)
{
    /// <summary>The most buckets one activity query returns.</summary>
    public const int MaxBuckets = 2000;

    /// <summary>Finds a bucket size by name.</summary>
    public static ActivityBucketSize? Parse(string? name) => name switch
    {
        "minute" => new("minute", TimeSpan.FromMinutes(1), 16),
        "hour" or null => new("hour", TimeSpan.FromHours(1), 13),
        "day" => new("day", TimeSpan.FromDays(1), 10),
        _ => null,
    };

    /// <summary>Gets the start of the bucket holding a time.</summary>
    public DateTimeOffset Floor(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % Step.Ticks), TimeSpan.Zero);
    }

    /// <summary>Gets the start of the next bucket.</summary>
    public DateTimeOffset Next(DateTimeOffset start) => start + Step;

    /// <summary>Gets the key of a bucket: the prefix its records' stored times share.</summary>
    public string Key(DateTimeOffset start) => start.ToString("O", CultureInfo.InvariantCulture)[..KeyLength];
}

/// <summary>Source-generated JSON for the read model's parameters.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyCollection<string>))]
internal sealed partial class ConsoleReadModelJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Thrown when a console view cannot be served by the configured store or audit log; answered as 501 with a
/// message that names the setting.</summary>
internal sealed class ConsoleViewUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConsoleViewUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ConsoleViewUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ConsoleViewUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
