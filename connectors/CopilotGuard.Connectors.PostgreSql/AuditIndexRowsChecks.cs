using CopilotGuard.Audit;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>PostgreSQL text cannot hold U+0000: the ids a record would index are checked before it is written.</summary>
internal static class AuditIndexRowsChecks
{
    /// <summary>Names the indexed ids of a record that hold U+0000 (none when it can be stored).</summary>
    public static List<string> FieldsWithNul(this AuditIndexRows rows, AuditRecord record)
    {
        var fields = new List<string>();
        Check(record.RecordId, "recordId");
        Check(record.SubjectId, "subjectId");
        if (rows.Documents.Any(static d => HasNul(d.Document)))
        {
            fields.Add("a chunk's documentId");
        }

        if (rows.Documents.Any(static d => HasNul(d.Chunk)))
        {
            fields.Add("a chunk's chunkId");
        }

        if (rows.Subjects.Any(HasNul))
        {
            fields.Add("a chunk's subjects");
        }

        if (rows.Receipts.Any(HasNul))
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

    private static bool HasNul(string value) => value.Contains('\0', StringComparison.Ordinal);
}
