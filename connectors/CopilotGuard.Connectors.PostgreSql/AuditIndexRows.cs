using CopilotGuard.Audit;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>The index rows an audit record implies: one per returned chunk (document, chunk), one per distinct data
/// subject, one per distinct receipt an answer binds. Written with the record and recomputed by verification.</summary>
/// <remarks>The same rows as the SQLite log writes, so both logs answer "who accessed" identically.</remarks>
internal readonly record struct AuditIndexRows(
    IReadOnlyList<(string Document, string Chunk)> Documents,
    IReadOnlyList<string> Subjects,
    IReadOnlyList<string> Receipts)
{
    /// <summary>Computes the rows of a record.</summary>
    public static AuditIndexRows Of(AuditRecord record) => new(
        [.. record.Chunks.Select(static c => (c.DocumentId, c.ChunkId))],
        [.. record.Chunks.SelectMany(static c => c.Subjects).Distinct(StringComparer.Ordinal)],
        [.. (record.Answer?.ReceiptIds ?? []).Distinct(StringComparer.Ordinal)]);

    /// <summary>Names the indexed ids of a record that hold U+0000 (none when it can be stored).</summary>
    public List<string> FieldsWithNul(AuditRecord record)
    {
        var fields = new List<string>();
        Check(record.RecordId, "recordId");
        Check(record.SubjectId, "subjectId");
        if (Documents.Any(static d => HasNul(d.Document)))
        {
            fields.Add("a chunk's documentId");
        }

        if (Documents.Any(static d => HasNul(d.Chunk)))
        {
            fields.Add("a chunk's chunkId");
        }

        if (Subjects.Any(HasNul))
        {
            fields.Add("a chunk's subjects");
        }

        if (Receipts.Any(HasNul))
        {
            fields.Add("answer.receiptIds");
        }

        return fields;

        void Check(string value, string name)
        {
            if (HasNul(value))
            {
                fields.Add(name);
            }
        }
    }

    /// <summary>Returns whether two sets of rows are the same, ignoring order (documents keep duplicates).</summary>
    public bool SameAs(AuditIndexRows other) =>
        Sorted(Documents).SequenceEqual(Sorted(other.Documents))
        && Sorted(Subjects).SequenceEqual(Sorted(other.Subjects), StringComparer.Ordinal)
        && Sorted(Receipts).SequenceEqual(Sorted(other.Receipts), StringComparer.Ordinal);

    private static bool HasNul(string value) => value.Contains('\0', StringComparison.Ordinal);

    private static IEnumerable<string> Sorted(IEnumerable<string> values) => values.Order(StringComparer.Ordinal);

    private static IEnumerable<(string, string)> Sorted(IEnumerable<(string Document, string Chunk)> values) =>
        values.OrderBy(static v => v.Document, StringComparer.Ordinal).ThenBy(static v => v.Chunk, StringComparer.Ordinal);
}
