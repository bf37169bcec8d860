using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CopilotGuard.Hosting.Retrieval;

/// <summary>The retrieval endpoint: <c>POST /v1/retrieve</c>.</summary>
internal static class RetrievalApi
{
    /// <summary>Maps the retrieval routes.</summary>
    public static IEndpointRouteBuilder MapRetrievalApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/v1");
        group.MapPost("/retrieve", RetrieveAsync)
            .WithName("Retrieve")
            .WithSummary("Retrieves the grounding chunks the caller may see for a query, and returns the audit receipt.");
        group.MapPost("/deanonymize", DeanonymizeAsync)
            .WithName("Deanonymize")
            .WithSummary("Restores pseudonymized values in a text for the caller's own conversation, where the policy allows it.");
        return app;
    }

    /// <summary>Handles one de-anonymization.</summary>
    public static async Task<Results<Ok<DeanonymizeResponse>, ProblemHttpResult>> DeanonymizeAsync(
        DeanonymizeBody body,
        HttpContext context,
        RetrievalBroker broker,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(broker);
        var caller = DevelopmentIssuer.ReadCaller(context.User);
        if (caller is null)
        {
            return DevelopmentIssuer.MissingCallerProblem();
        }

        var result = await broker.DeanonymizeAsync(new DeanonymizeRequest(caller, body?.ConversationId ?? string.Empty, body?.Text!), cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new DeanonymizeResponse(result.Text, result.Restored));
    }

    /// <summary>Handles one retrieval.</summary>
    public static async Task<Results<Ok<RetrieveResponse>, ProblemHttpResult>> RetrieveAsync(
        RetrieveRequest body,
        HttpContext context,
        RetrievalBroker broker,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(broker);
        var caller = DevelopmentIssuer.ReadCaller(context.User);
        if (caller is null)
        {
            return DevelopmentIssuer.MissingCallerProblem();
        }

        if (body is null)
        {
            return TypedResults.Problem("The request body is required.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }

        var mode = RetrievalMode.Vector;
        if (body.Mode is not null && !RetrievalModes.TryParse(body.Mode, out mode))
        {
            return TypedResults.Problem(RetrievalModes.UnknownModeMessage, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }

        var result = await broker.RetrieveAsync(
            new RetrievalRequest
            {
                Caller = caller,
                Query = body.Query ?? string.Empty,
                Top = body.Top ?? 5,
                Mode = mode,
                Purpose = body.Purpose,
                Destination = body.Destination,
                ConversationId = body.ConversationId,
                ClientAddress = context.Connection.RemoteIpAddress?.ToString(),
            },
            cancellationToken).ConfigureAwait(false);

        return TypedResults.Ok(new RetrieveResponse(
            result.ReceiptId,
            [.. result.Chunks.Select(static scored => new RetrievedChunk(
                scored.Chunk.Id,
                scored.Chunk.DocumentId,
                scored.Chunk.Source,
                scored.Chunk.Label.Name,
                scored.Score,
                scored.Chunk.Title,
                scored.Chunk.Text,
                scored.Chunk.Version,
                scored.Chunk.Fields))]));
    }
}

/// <summary>The body of <c>POST /v1/deanonymize</c>.</summary>
/// <param name="ConversationId">The conversation whose pseudonyms to restore (the one given to retrieve).</param>
/// <param name="Text">The text with placeholders such as &lt;PERSON_1&gt;.</param>
public sealed record DeanonymizeBody(string? ConversationId, string? Text) : ILimitedBody
{
    /// <inheritdoc />
    public FieldProblem? CheckLimits() =>
        InputLimits.Check("conversationId", ConversationId) ?? InputLimits.Check("text", Text);
}

/// <summary>The answer of <c>POST /v1/deanonymize</c>.</summary>
/// <param name="Text">The restored text.</param>
/// <param name="Restored">How many placeholders were replaced.</param>
public sealed record DeanonymizeResponse(string Text, int Restored);

/// <summary>The body of <c>POST /v1/retrieve</c>.</summary>
/// <param name="Query">The query text (required, at most 4,096 characters).</param>
/// <param name="Top">How many chunks to return (1-50; the default is 5).</param>
/// <param name="Purpose">Why the data is needed.</param>
/// <param name="Destination">Where the data goes: a destination registered in <c>destinations.yaml</c>; an undeclared or
/// unregistered one is treated as the most restrictive registered destination (<c>external</c>, ceiling General, in the sample).</param>
/// <param name="ConversationId">The conversation the request belongs to.</param>
/// <param name="Mode">How the store ranks chunks: <c>vector</c> (the default), <c>keyword</c> or <c>hybrid</c>; a mode the
/// store does not support is refused with 400.</param>
public sealed record RetrieveRequest(string? Query, int? Top, string? Purpose, string? Destination, string? ConversationId, string? Mode = null) : ILimitedBody
{
    /// <inheritdoc />
    public FieldProblem? CheckLimits() =>
        InputLimits.Check("query", Query)
        ?? InputLimits.Check("purpose", Purpose)
        ?? InputLimits.Check("destination", Destination)
        ?? InputLimits.Check("conversationId", ConversationId)
        ?? InputLimits.Check("mode", Mode);
}

/// <summary>The answer of <c>POST /v1/retrieve</c>.</summary>
/// <param name="ReceiptId">The audit receipt for this retrieval.</param>
/// <param name="Chunks">The chunks the caller may see, best first.</param>
public sealed record RetrieveResponse(string ReceiptId, ImmutableArray<RetrievedChunk> Chunks);

/// <summary>One returned chunk.</summary>
/// <param name="Id">The chunk id.</param>
/// <param name="DocumentId">The document id.</param>
/// <param name="Source">The source.</param>
/// <param name="Label">The sensitivity label.</param>
/// <param name="Score">The similarity score.</param>
/// <param name="Title">The document title.</param>
/// <param name="Text">The chunk text.</param>
/// <param name="Version">The document version.</param>
/// <param name="Fields">The fields of a structured row.</param>
public sealed record RetrievedChunk(
    string Id,
    string DocumentId,
    string Source,
    string Label,
    double Score,
    string? Title,
    string Text,
    int Version,
    ImmutableDictionary<string, JsonElement>? Fields);

/// <summary>Source-generated JSON for the server's bodies.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(RetrieveRequest))]
[JsonSerializable(typeof(RetrieveResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(DeanonymizeBody))]
[JsonSerializable(typeof(CopilotGuard.Hosting.Labeling.LabelChangeBody))]
[JsonSerializable(typeof(CopilotGuard.Hosting.Labeling.LabelChangeResponse))]
[JsonSerializable(typeof(DeanonymizeResponse))]
[JsonSerializable(typeof(CopilotGuard.Hosting.Policy.ExplainBody))]
[JsonSerializable(typeof(CopilotGuard.Hosting.Policy.ExplainResponse))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;
