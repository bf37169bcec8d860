using System.Text.Json;
using System.Text.Json.Serialization;

namespace CopilotGuard.Client;

/// <summary>Describes one retrieval: the body of <c>POST /v1/retrieve</c>.</summary>
/// <param name="Query">The query text (at most 4,096 characters).</param>
public sealed record RetrieveRequest(string Query)
{
    /// <summary>Gets how many chunks to return (1-50). The default is the server's (5).</summary>
    public int? Top { get; init; }

    /// <summary>Gets why the data is needed, as the policy reads it in <c>request.purpose</c>. The default is none.</summary>
    public string? Purpose { get; init; }

    /// <summary>Gets where the data goes: <c>internal</c> or an external model. The default (none) is treated as external.</summary>
    public string? Destination { get; init; }

    /// <summary>Gets the conversation the request belongs to; pseudonyms are consistent within it. The default is none.</summary>
    public string? ConversationId { get; init; }

    /// <summary>Gets how the server's store ranks chunks. The default (none) is the server's: <see cref="RetrievalMode.Vector"/>.</summary>
    /// <remarks>A mode the server's store does not support is refused with a 400 problem naming the mode and the store.</remarks>
    public RetrievalMode? Mode { get; init; }
}

/// <summary>Chooses how the server's store ranks chunks; every mode gets the same policy filter and re-check.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RetrievalMode>))]
public enum RetrievalMode
{
    /// <summary>Nearest neighbours of the query embedding (<c>vector</c>).</summary>
    [JsonStringEnumMemberName("vector")]
    Vector,

    /// <summary>Full-text search over chunk titles and texts (<c>keyword</c>).</summary>
    [JsonStringEnumMemberName("keyword")]
    Keyword,

    /// <summary>Full-text and vector search fused by the store (<c>hybrid</c>).</summary>
    [JsonStringEnumMemberName("hybrid")]
    Hybrid,
}

/// <summary>Holds the outcome of a retrieval: the audit receipt and the chunks the caller may see.</summary>
/// <param name="ReceiptId">The audit receipt for this retrieval.</param>
/// <param name="Chunks">The released chunks, best first.</param>
public sealed record RetrieveResponse(string ReceiptId, IReadOnlyList<RetrievedChunk> Chunks);

/// <summary>Holds one released chunk, after field obligations and anonymization.</summary>
/// <param name="Id">The chunk id.</param>
/// <param name="DocumentId">The document id.</param>
/// <param name="Source">The source the document belongs to.</param>
/// <param name="Label">The sensitivity label.</param>
/// <param name="Score">The similarity score.</param>
/// <param name="Title">The document title, if any.</param>
/// <param name="Text">The released chunk text.</param>
/// <param name="Version">The document version.</param>
/// <param name="Fields">The released fields of a structured row, if any.</param>
public sealed record RetrievedChunk(
    string Id,
    string DocumentId,
    string Source,
    string Label,
    double Score,
    string? Title,
    string Text,
    int Version,
    IReadOnlyDictionary<string, JsonElement>? Fields);
