using CopilotGuard.Retrieval;
using CopilotGuard.Hosting.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CopilotGuard.Hosting.Labeling;

/// <summary>Data-owner routes: <c>PUT /v1/documents/{documentId}/label</c>.</summary>
internal static class DocumentsApi
{
    /// <summary>Maps the document routes.</summary>
    public static IEndpointRouteBuilder MapDocumentsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("/v1/documents").MapPut("/{documentId}/label", SetLabelAsync)
            .WithName("SetDocumentLabel")
            .WithSummary("Changes a document's sensitivity label (data owners of its source only; audited; effective on the next retrieval).");
        return app;
    }

    /// <summary>Handles one label change.</summary>
    public static async Task<Results<Ok<LabelChangeResponse>, ProblemHttpResult>> SetLabelAsync(
        string documentId,
        LabelChangeBody body,
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

        var change = await broker.SetDocumentLabelAsync(caller, documentId, body?.Label ?? string.Empty, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new LabelChangeResponse(change.DocumentId, change.Previous, change.Label, change.Chunks));
    }
}

/// <summary>The body of <c>PUT /v1/documents/{documentId}/label</c>.</summary>
/// <param name="Label">The new label name (from the taxonomy).</param>
public sealed record LabelChangeBody(string? Label) : CopilotGuard.Hosting.ILimitedBody
{
    /// <inheritdoc />
    public CopilotGuard.Hosting.FieldProblem? CheckLimits() => CopilotGuard.Hosting.InputLimits.Check("label", Label);
}

/// <summary>The outcome of a label change.</summary>
/// <param name="DocumentId">The document.</param>
/// <param name="Previous">The labels its chunks had before.</param>
/// <param name="Label">The new label.</param>
/// <param name="Chunks">How many chunks were relabelled.</param>
public sealed record LabelChangeResponse(string DocumentId, IReadOnlyList<string> Previous, string Label, int Chunks);
