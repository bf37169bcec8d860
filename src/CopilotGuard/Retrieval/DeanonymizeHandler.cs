using CopilotGuard.Anonymization;
using CopilotGuard.Identity;
using CopilotGuard.Obligations;
using CopilotGuard.Operations;
using CopilotGuard.Policy;

namespace CopilotGuard.Retrieval;

/// <summary>Restores pseudonymized values for the caller's own conversation, through the guarded path; every
/// attempt, granted or refused, is audited with the number of values restored (never the values).</summary>
/// <param name="guard">The guarded-operation path.</param>
/// <param name="releaser">The releaser whose anonymizer pseudonymized the values.</param>
public sealed class DeanonymizeHandler(GuardedOperations guard, ChunkReleaser releaser)
{
    private readonly GuardedOperations _guard = guard ?? throw new ArgumentNullException(nameof(guard));
    private readonly ChunkReleaser _releaser = releaser ?? throw new ArgumentNullException(nameof(releaser));

    /// <summary>Restores pseudonymized values in a text (e.g. a model's answer) for the caller's own conversation.</summary>
    /// <remarks>Allowed only when a de-anonymization grant of the policy matches the caller (both principals, when an
    /// agent acts for a user). Pseudonyms are scoped to the caller, so nobody can restore another caller's conversation.</remarks>
    /// <exception cref="GuardException">The caller may not de-anonymize, the input is invalid, or the audit write failed.</exception>
    public async Task<DeanonymizeResult> HandleAsync(DeanonymizeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.ConversationId) || request.ConversationId.Length > 256)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, "conversationId is required and at most 256 characters long.");
        }

        if (request.Text is null || request.Text.Length > 1_000_000)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, "text is required and at most 1,000,000 characters long.");
        }

        // The policy snapshot is read once, here, for the caller, the gates, the grant and the record.
        var operation = _guard.Begin();
        var caller = await operation.AdmitAsync(request.Caller, new AccessRequest("deanonymize", null, "internal"), cancellationToken).ConfigureAwait(false);
        var grant = operation.Policy.DeanonymizationGrant(caller, PolicyRequest.Attributes(null, "internal"));
        var anonymizer = _releaser.Anonymizer;
        var restored = 0;
        string? text = null;
        if (grant is not null && anonymizer is not null)
        {
            var result = await anonymizer.DeanonymizeAsync(request.Text, new AnonymizationPolicy { AllowDeanonymization = true }, new AnonymizationContext(RetrieveHandler.ConversationKey(caller, request.ConversationId)), cancellationToken).ConfigureAwait(false);
            (text, restored) = (result.Text, result.Restored);
        }

        await operation.AppendAsync(operation.NewRecord("deanonymize", caller, text is null ? "refused" : $"restored:{restored}") with
        {
            Destination = "internal",
            ConversationId = request.ConversationId,
            Target = grant is null ? null : $"grant:{grant}",
        }, cancellationToken).ConfigureAwait(false);

        return text is null
            ? throw new GuardException(GuardErrorKind.Forbidden, "The policy does not allow this caller to restore pseudonymized values.")
            : new DeanonymizeResult(text, restored);
    }
}
