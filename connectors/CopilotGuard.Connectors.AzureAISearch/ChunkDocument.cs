using System.Text.Json.Serialization;

namespace CopilotGuard.Connectors.AzureAISearch;

/// <summary>One chunk as an index document.</summary>
internal sealed class ChunkDocument
{
    [JsonPropertyName(ChunkIndexSchema.Key)]
    public string Key { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.Id)]
    public string Id { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.DocumentId)]
    public string DocumentId { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.Source)]
    public string Source { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.Label)]
    public string Label { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.LabelRank)]
    public int LabelRank { get; set; }

    [JsonPropertyName(ChunkIndexSchema.Version)]
    public int Version { get; set; }

    [JsonPropertyName(ChunkIndexSchema.Title)]
    public string? Title { get; set; }

    [JsonPropertyName(ChunkIndexSchema.Text)]
    public string Text { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.Subjects)]
    public List<string>? Subjects { get; set; }

    [JsonPropertyName(ChunkIndexSchema.Fields)]
    public string? Fields { get; set; }

    /// <summary>The row schema (field labels and text template) as JSON, for structured rows.</summary>
    [JsonPropertyName(ChunkIndexSchema.RowSchema)]
    public string? RowSchema { get; set; }

    [JsonPropertyName(ChunkIndexSchema.Attributes)]
    public List<AttributeDocument>? Attributes { get; set; }

    [JsonPropertyName(ChunkIndexSchema.Embedding)]
    public float[]? Embedding { get; set; }
}

/// <summary>One value of an ingested attribute, as an element of the index's <c>attributes</c> collection.</summary>
internal sealed class AttributeDocument
{
    [JsonPropertyName(ChunkIndexSchema.AttributeName)]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.AttributeKind)]
    public int Kind { get; set; }

    [JsonPropertyName(ChunkIndexSchema.AttributeText)]
    public string Text { get; set; } = string.Empty;

    [JsonPropertyName(ChunkIndexSchema.AttributeNumber)]
    public double? Number { get; set; }
}
