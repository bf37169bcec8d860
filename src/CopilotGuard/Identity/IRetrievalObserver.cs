using CopilotGuard.Audit;

namespace CopilotGuard.Identity;

/// <summary>Sees every audit record after it is durably written: anomaly detection, metrics, rate-limit accounting.</summary>
/// <remarks>Observers run after the data decision; an observer that throws is logged and does not fail the request.</remarks>
public interface IRetrievalObserver
{
    /// <summary>Observes one written record and the principals it concerns.</summary>
    ValueTask OnRecordedAsync(AuditRecord record, CallerPrincipals caller, CancellationToken cancellationToken);
}
