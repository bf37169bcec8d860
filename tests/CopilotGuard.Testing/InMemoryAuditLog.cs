using CopilotGuard.Audit;

namespace CopilotGuard.Testing;

/// <summary>A hash-chained audit log in memory; can be told to fail, to test that retrievals fail closed.</summary>
public sealed class InMemoryAuditLog : IAuditLog
{
    private readonly List<(AuditEntry Entry, byte[] Payload)> _entries = [];
    private readonly Lock _lock = new();

    /// <summary>Gets or sets whether appends throw.</summary>
    public bool Fail { get; set; }

    public IReadOnlyList<AuditEntry> Entries
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries.Select(static e => e.Entry)];
            }
        }
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        if (Fail)
        {
            throw new IOException("The audit disk is full (simulated).");
        }

        var payload = AuditJson.Serialize(record);
        lock (_lock)
        {
            var previous = _entries.Count == 0 ? AuditChain.Genesis : _entries[^1].Entry.Hash;
            var entry = new AuditEntry(_entries.Count + 1, AuditChain.Link(previous, _entries.Count + 1, payload), record);
            _entries.Add((entry, payload));
            return Task.FromResult(entry);
        }
    }

    public Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<AuditEntry?>(_entries.Select(static e => e.Entry).FirstOrDefault(e => e.Record.RecordId == recordId));
        }
    }

    public Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var previous = AuditChain.Genesis;
            foreach (var (entry, payload) in _entries)
            {
                var hash = AuditChain.Link(previous, entry.Sequence, payload);
                if (hash != entry.Hash)
                {
                    return Task.FromResult(new AuditVerification(false, entry.Sequence - 1, previous, entry.Sequence, "hash mismatch"));
                }

                previous = hash;
            }

            return Task.FromResult(new AuditVerification(true, _entries.Count, _entries.Count == 0 ? string.Empty : previous));
        }
    }
}
