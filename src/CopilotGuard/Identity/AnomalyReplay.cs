using System.Runtime.CompilerServices;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;

namespace CopilotGuard.Identity;

/// <summary>One finding of a replay, with the record that raised it and what the configured responses would have done.</summary>
/// <param name="Record">The audit record that raised the finding.</param>
/// <param name="Finding">The finding.</param>
/// <param name="Responses">The responses configured for its severity.</param>
public sealed record ReplayedFinding(AuditRecord Record, AnomalyFinding Finding, IReadOnlyList<AnomalyResponse> Responses);

/// <summary>Feeds past audit records through a fresh <see cref="AnomalyDetector"/> to show what it would have flagged.</summary>
/// <remarks>Nothing is suspended, throttled or written: a replay only reports. Principals are resolved (for their
/// peer group) through the given provider as they are now; one that is no longer known is replayed without peers.</remarks>
public static class AnomalyReplay
{
    /// <summary>Replays retrieval records in order and streams the findings.</summary>
    public static async IAsyncEnumerable<ReplayedFinding> ReplayAsync(
        IAsyncEnumerable<AuditRecord> records,
        AnomalyOptions options,
        IEntitlementProvider principals,
        Func<AuditedChunk, CancellationToken, ValueTask<string?>> sourceOf,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(principals);
        ArgumentNullException.ThrowIfNull(sourceOf);
        var detector = new AnomalyDetector(options);
        var known = new Dictionary<string, Principal>(StringComparer.Ordinal);
        await foreach (var record in records.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (record.Kind != "retrieval")
            {
                continue;
            }

            var subject = await ResolveAsync(record.SubjectId, PrincipalKind.User).ConfigureAwait(false);
            var actor = record.ActorId is null ? null : await ResolveAsync(record.ActorId, PrincipalKind.Agent).ConfigureAwait(false);
            foreach (var observation in await AnomalyResponder.ToObservationsAsync(record, new CallerPrincipals(subject, actor), sourceOf, cancellationToken).ConfigureAwait(false))
            {
                foreach (var finding in detector.Observe(observation))
                {
                    yield return new ReplayedFinding(record, finding, options.ResponsesFor(finding.Severity));
                }
            }
        }

        async Task<Principal> ResolveAsync(string id, PrincipalKind fallbackKind)
        {
            if (!known.TryGetValue(id, out var principal))
            {
                Principal? resolved;
                try
                {
                    resolved = await principals.ResolveAsync(id, cancellationToken).ConfigureAwait(false);
                }
                catch (EntitlementUnavailableException)
                {
                    resolved = null;
                }

                principal = resolved ?? new Principal(id, fallbackKind, AttributeSet.Empty);
                known[id] = principal;
            }

            return principal;
        }
    }
}
