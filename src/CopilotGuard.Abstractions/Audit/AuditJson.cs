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
        JsonSerializer.Deserialize(json, AuditJsonContext.Default.AuditRecord) ?? throw new JsonException("The audit payload is null.");
}

/// <summary>Source-generated serializer for audit records.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AuditRecord))]
public sealed partial class AuditJsonContext : JsonSerializerContext;
