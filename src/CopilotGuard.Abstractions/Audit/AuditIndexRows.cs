using System.Collections.Immutable;

namespace CopilotGuard.Audit;

/// <summary>The index rows an audit record implies: one per returned chunk (document, chunk), one per distinct data
/// subject, one per distinct receipt an answer binds. Written with the record and recomputed by verification.</summary>
/// <remarks>One definition for every audit log (SQLite and PostgreSQL write and verify these rows), so all answer "who
/// accessed" identically.</remarks>
public readonly record struct AuditIndexRows(
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

    /// <summary>Returns whether two sets of rows are the same, ignoring order (documents keep duplicates).</summary>
    public bool SameAs(AuditIndexRows other) =>
        Sorted(Documents).SequenceEqual(Sorted(other.Documents))
        && Sorted(Subjects).SequenceEqual(Sorted(other.Subjects), StringComparer.Ordinal)
        && Sorted(Receipts).SequenceEqual(Sorted(other.Receipts), StringComparer.Ordinal);

    private static ImmutableArray<T> OrEmpty<T>(ImmutableArray<T> values) => values.IsDefault ? [] : values;

    private static IEnumerable<string> Sorted(IEnumerable<string> values) => values.Order(StringComparer.Ordinal);

    private static IEnumerable<(string, string)> Sorted(IEnumerable<(string Document, string Chunk)> values) =>
        values.OrderBy(static v => v.Document, StringComparer.Ordinal).ThenBy(static v => v.Chunk, StringComparer.Ordinal);
}
