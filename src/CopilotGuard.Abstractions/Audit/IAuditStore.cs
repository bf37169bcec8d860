namespace CopilotGuard.Audit;

/// <summary>A complete audit log backend as the runtime uses it: durable appends, compliance reads and on-demand
/// checkpoints, behind one type so the embedded SQLite log and the PostgreSQL log are interchangeable by configuration.</summary>
public interface IAuditStore : IAuditLog, IAuditReader, IAsyncDisposable
{
    /// <summary>Writes a signed checkpoint now if any entry is not yet covered by one.</summary>
    /// <returns>The checkpoint written, or <see langword="null"/> when there was nothing to anchor or no signer.</returns>
    Task<AuditCheckpoint?> CheckpointAsync(CancellationToken cancellationToken);
}
