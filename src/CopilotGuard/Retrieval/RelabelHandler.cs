using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Operations;

namespace CopilotGuard.Retrieval;

/// <summary>Changes the label of a document for the data owner of its source, through the guarded path; audited with
/// the old and new label before the change, so no change is ever unaudited.</summary>
/// <param name="guard">The guarded-operation path.</param>
/// <param name="store">The store whose documents it relabels.</param>
public sealed class RelabelHandler(GuardedOperations guard, IChunkStore store)
{
    private readonly GuardedOperations _guard = guard ?? throw new ArgumentNullException(nameof(guard));
    private readonly IChunkStore _store = store ?? throw new ArgumentNullException(nameof(store));

    /// <summary>Changes the label of a document.</summary>
    /// <remarks>The caller must be the document's owner (its <c>owner</c> attribute, set per source) or hold the
    /// <c>data-owner</c> role with the source in <c>principal.ownedSources</c>. A caller who may not relabel a document
    /// learns nothing about it (404 and 403 are not distinguished for documents the caller cannot see).</remarks>
    /// <exception cref="GuardException">Unknown document, not the owner, unknown label, or the audit write failed.</exception>
    public async Task<LabelChange> HandleAsync(CallerIdentity identity, string documentId, string labelName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (string.IsNullOrWhiteSpace(documentId) || documentId.Length > 512)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, "The document id is required and at most 512 characters long.");
        }

        // The policy snapshot is read once, here, for the taxonomy, the caller, the gates and the record.
        var operation = _guard.Begin();
        var labels = operation.Policy.Labels;
        if (!labels.TryGet(labelName ?? string.Empty, out var label))
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, $"Unknown sensitivity label '{labelName}'. Known labels: {string.Join(", ", labels.Labels)}.");
        }

        var caller = await operation.AdmitAsync(identity, new AccessRequest("label-change", null, "internal"), RefuseAgents, cancellationToken).ConfigureAwait(false);
        var chunks = await _store.GetDocumentAsync(documentId, cancellationToken).ConfigureAwait(false);
        if (chunks.Count == 0 || !chunks.All(chunk => OwnsSource(caller.Subject, chunk)))
        {
            throw new GuardException(GuardErrorKind.NotFound, $"No document '{documentId}' that you own was found.");
        }

        var previous = chunks.Select(static c => c.Label.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        await operation.AppendAsync(operation.NewRecord("label-change", caller, $"{string.Join("|", previous)} -> {label.Name}") with
        {
            Store = _store.Name,
            Target = $"document:{documentId}",
        }, cancellationToken).ConfigureAwait(false);
        var changed = await _store.SetDocumentLabelAsync(documentId, label, cancellationToken).ConfigureAwait(false);
        return new LabelChange(documentId, previous, label.Name, changed);
    }

    private static void RefuseAgents(CallerPrincipals caller)
    {
        if (caller.Actor is not null)
        {
            throw new GuardException(GuardErrorKind.Forbidden, "Labels are changed by data owners themselves, not by agents acting for them.");
        }
    }

    private static bool OwnsSource(Principal principal, Chunk chunk) =>
        (chunk.Attributes.TryGet("owner", out var owners) && owners.Any(owner => owner.Kind == AttributeKind.String && owner.Text == principal.Id))
        || (principal.Attributes.TryGet("roles", out var roles) && roles.Any(static r => r.Text == "data-owner")
            && principal.Attributes.TryGet("ownedSources", out var sources) && sources.Any(s => s.Text == chunk.Source));
}
