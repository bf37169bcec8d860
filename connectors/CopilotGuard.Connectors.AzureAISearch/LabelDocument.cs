using System.Text.Json.Serialization;

namespace CopilotGuard.Connectors.AzureAISearch;

/// <summary>The fields a label change merges into a chunk's index document: its key, the label and its rank.</summary>
/// <remarks>A merge sends only these, so every other field of the document (text, attributes, vector) is kept.</remarks>
internal sealed class LabelDocument
{
    [JsonPropertyName(ChunkIndexSchema.Key)]
    public string Key { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.Label)]
    public string Label { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.LabelRank)]
    public int LabelRank { get; set; }
}
