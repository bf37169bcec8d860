using System.Collections.Immutable;
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
    /// <remarks>A record read back from stored bytes may hold default (uninitialized) arrays: <see cref="AuditJson"/>
    /// leaves an array whose key is absent from the JSON as <c>default</c>, not empty, which is what a tampered payload
    /// (a flipped byte in a key) produces. Such arrays count as empty here, so verification reports the entry instead
    /// of throwing.</remarks>
    public static AuditIndexRows Of(AuditRecord record) => new(
        [.. OrEmpty(record.Chunks).Select(static c => (c.DocumentId, c.ChunkId))],
        [.. OrEmpty(record.Chunks).SelectMany(static c => OrEmpty(c.Subjects)).Distinct(StringComparer.Ordinal)],
        [.. (record.Answer is { } answer ? OrEmpty(answer.ReceiptIds) : []).Distinct(StringComparer.Ordinal)]);

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

    private static ImmutableArray<T> OrEmpty<T>(ImmutableArray<T> values) => values.IsDefault ? [] : values;

    private static IEnumerable<string> Sorted(IEnumerable<string> values) => values.Order(StringComparer.Ordinal);

    private static IEnumerable<(string, string)> Sorted(IEnumerable<(string Document, string Chunk)> values) =>
        values.OrderBy(static v => v.Document, StringComparer.Ordinal).ThenBy(static v => v.Chunk, StringComparer.Ordinal);
}
