using System.Text.Json;
using System.Text.Json.Serialization;

namespace CopilotGuard.Audit;

/// <summary>The one JSON form of audit records, shared by every audit log so hashes agree across stores.</summary>
public static class AuditJson
{
    /// <summary>Serializes a record to UTF-8 JSON.</summary>
    public static byte[] Serialize(AuditRecord record) => JsonSerializer.SerializeToUtf8Bytes(record, AuditJsonContext.Default.AuditRecord);

    /// <summary>Deserializes a record from UTF-8 JSON.</summary>
    /// <exception cref="JsonException">The bytes are not an audit record.</exception>
    public static AuditRecord Deserialize(ReadOnlySpan<byte> json) =>
        WithEmptyLists(JsonSerializer.Deserialize(json, AuditJsonContext.Default.AuditRecord) ?? throw new JsonException("The audit payload is null."));

    /// <summary>Replaces lists missing from the payload (records written before a list property existed) with empty ones:
    /// the generated reader leaves them as default arrays, which throw when read or written again.</summary>
    private static AuditRecord WithEmptyLists(AuditRecord record)
    {
        var chunks = record.Chunks.IsDefault ? [] : record.Chunks;
        if (chunks.Any(static chunk => chunk is null || chunk.Subjects.IsDefault))
        {
            chunks = [.. chunks.Select(static chunk => chunk is null ? throw new JsonException("The audit payload holds a null chunk.") : chunk.Subjects.IsDefault ? chunk with { Subjects = [] } : chunk)];
        }

        var answer = record.Answer;
        if (answer is not null && (answer.ReceiptIds.IsDefault || answer.CitedChunkIds.IsDefault))
        {
            answer = answer with { ReceiptIds = answer.ReceiptIds.IsDefault ? [] : answer.ReceiptIds, CitedChunkIds = answer.CitedChunkIds.IsDefault ? [] : answer.CitedChunkIds };
        }

        return record with
        {
            DecidingRules = record.DecidingRules.IsDefault ? [] : record.DecidingRules,
            Chunks = chunks,
            PostFilterDrops = record.PostFilterDrops.IsDefault ? [] : record.PostFilterDrops,
            PostFilterDropReasons = record.PostFilterDropReasons.IsDefault ? [] : record.PostFilterDropReasons,
            Answer = answer,
        };
    }
}

/// <summary>Source-generated serializer for audit records.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AuditRecord))]
public sealed partial class AuditJsonContext : JsonSerializerContext;
