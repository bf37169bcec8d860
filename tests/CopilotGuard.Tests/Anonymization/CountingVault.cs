using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization;

/// <summary>A vault that completes asynchronously, as one outside the process does, over an in-memory vault; counts
/// its round trips and can fail its writes.</summary>
internal sealed class CountingVault(InMemoryPseudonymVault inner) : IPseudonymVault
{
    private int _reads;
    private int _writes;

    public CountingVault()
        : this(new InMemoryPseudonymVault(new byte[32]))
    {
    }

    public InMemoryPseudonymVault Inner => inner;

    public int Reads => _reads;

    public int Writes => _writes;

    /// <summary>Gets the subjects of every write, in order.</summary>
    public List<IReadOnlyList<PseudonymSubject>> Written { get; } = [];

    public Exception? FailWrites { get; set; }

    public void Reset()
    {
        _reads = 0;
        _writes = 0;
        Written.Clear();
    }

    public async ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        Interlocked.Increment(ref _reads);
        return await inner.GetEntriesAsync(conversationId, cancellationToken);
    }

    public async ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddAsync(string conversationId, IReadOnlyList<PseudonymSubject> subjects, CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        Interlocked.Increment(ref _writes);
        lock (Written)
        {
            Written.Add([.. subjects]);
        }

        if (FailWrites is { } failure)
        {
            throw failure;
        }

        return await inner.GetOrAddAsync(conversationId, subjects, cancellationToken);
    }

    public async ValueTask<bool> RemoveAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        return await inner.RemoveAsync(conversationId, cancellationToken);
    }
}
