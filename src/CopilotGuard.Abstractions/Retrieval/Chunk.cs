using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;

namespace CopilotGuard.Retrieval;

/// <summary>One retrievable unit of a document: its text, label, attributes and (for rows) fields.</summary>
public sealed record Chunk
{
    private AttributeSet? _resourceAttributes;
    private string? _contentSha256;

    /// <summary>Creates a chunk.</summary>
    public Chunk()
    {
    }

    /// <summary>Copies a chunk for a <c>with</c> expression, leaving derived values (hash, resource attributes) to be recomputed.</summary>
    private Chunk(Chunk original)
    {
        Id = original.Id;
        DocumentId = original.DocumentId;
        Source = original.Source;
        Label = original.Label;
        Version = original.Version;
        Title = original.Title;
        Text = original.Text;
        Attributes = original.Attributes;
        Subjects = original.Subjects;
        Fields = original.Fields;
        Schema = original.Schema;
    }

    /// <summary>Gets the chunk id, unique in the store.</summary>
    public required string Id { get; init; }

    /// <summary>Gets the id of the document the chunk belongs to.</summary>
    public required string DocumentId { get; init; }

    /// <summary>Gets the source (e.g. <c>hr</c>, <c>support</c>) the document comes from.</summary>
    public required string Source { get; init; }

    /// <summary>Gets the chunk's sensitivity label.</summary>
    public required SensitivityLabel Label { get; init; }

    /// <summary>Gets the document version the chunk was cut from.</summary>
    public int Version { get; init; } = 1;

    /// <summary>Gets the document title, if any.</summary>
    public string? Title { get; init; }

    /// <summary>Gets the chunk text as stored.</summary>
    public required string Text { get; init; }

    /// <summary>Gets the ingested attributes (account, patient, owner, tags, ...).</summary>
    public AttributeSet Attributes { get; init; } = AttributeSet.Empty;

    /// <summary>Gets the ids of the data subjects (customers, patients, employees) the chunk concerns.</summary>
    public ImmutableArray<string> Subjects { get; init; } = [];

    /// <summary>Gets the fields of a structured row, or <see langword="null"/> for prose.</summary>
    public ImmutableDictionary<string, JsonElement>? Fields { get; init; }

    /// <summary>Gets the row schema (field labels and the text template) of a structured row, or <see langword="null"/> for prose.</summary>
    /// <remarks>The broker re-renders <see cref="Text"/> from the template after field obligations, so a withheld
    /// field cannot survive in the text.</remarks>
    public RowSchema? Schema { get; init; }

    /// <summary>Gets the SHA-256 of <see cref="Text"/> (UTF-8), lowercase hex.</summary>
    public string ContentSha256 => _contentSha256 ??= Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Text)));

    /// <summary>Gets the attributes that policies see as <c>resource.*</c>: the ingested ones plus
    /// <c>id</c>, <c>documentId</c>, <c>source</c>, <c>label</c> and <c>version</c>.</summary>
    public AttributeSet ResourceAttributes => _resourceAttributes ??= BuildResourceAttributes();

    private AttributeSet BuildResourceAttributes()
    {
        var pairs = Attributes.ToDictionary(static pair => pair.Key, static pair => pair.Value, StringComparer.Ordinal);
        pairs[ResourceAttributeNames.Id] = [AttributeValue.FromString(Id)];
        pairs[ResourceAttributeNames.DocumentId] = [AttributeValue.FromString(DocumentId)];
        pairs[ResourceAttributeNames.Source] = [AttributeValue.FromString(Source)];
        pairs[ResourceAttributeNames.Label] = [Label.ToAttributeValue()];
        pairs[ResourceAttributeNames.Version] = [AttributeValue.FromNumber(Version)];
        if (!Subjects.IsDefaultOrEmpty)
        {
            pairs[ResourceAttributeNames.Subjects] = [.. Subjects.Select(AttributeValue.FromString)];
        }

        return AttributeSet.Create(pairs);
    }
}

/// <summary>Names of the resource attributes every chunk has.</summary>
public static class ResourceAttributeNames
{
    /// <summary>The chunk id.</summary>
    public const string Id = "id";

    /// <summary>The document id.</summary>
    public const string DocumentId = "documentId";

    /// <summary>The source name.</summary>
    public const string Source = "source";

    /// <summary>The sensitivity label (compares by rank).</summary>
    public const string Label = "label";

    /// <summary>The document version.</summary>
    public const string Version = "version";

    /// <summary>The data subjects the chunk concerns.</summary>
    public const string Subjects = "subjects";

    /// <summary>Gets the names that are derived from the chunk itself and cannot be ingested as attributes.</summary>
    public static IReadOnlySet<string> Reserved { get; } =
        new HashSet<string>([Id, DocumentId, Source, Label, Version, Subjects], StringComparer.Ordinal);
}

/// <summary>A chunk with its embedding, as written to a store.</summary>
public sealed record StoredChunk(Chunk Chunk, ReadOnlyMemory<float> Vector);

/// <summary>A chunk returned by a search, with its similarity score (higher is closer).</summary>
public sealed record ScoredChunk(Chunk Chunk, double Score);

/// <summary>How a structured row's fields are labelled and rendered into text.</summary>
/// <param name="TextTemplate">The template with <c>{field}</c> placeholders that renders the chunk text.</param>
/// <param name="Fields">Each field's type and label name.</param>
public sealed record RowSchema(string TextTemplate, ImmutableDictionary<string, FieldSchema> Fields)
{
    /// <inheritdoc />
    public bool Equals(RowSchema? other) =>
        other is not null && TextTemplate == other.TextTemplate && Fields.Count == other.Fields.Count
        && Fields.All(pair => other.Fields.TryGetValue(pair.Key, out var field) && field == pair.Value);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(TextTemplate, Fields.Count);
}

/// <summary>One field of a row schema.</summary>
/// <param name="Type">The declared type: <c>string</c>, <c>number</c>, <c>date</c> or <c>boolean</c>.</param>
/// <param name="Label">The field's sensitivity label name.</param>
public sealed record FieldSchema(string Type, string Label);
