using System.Text.Json;

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
