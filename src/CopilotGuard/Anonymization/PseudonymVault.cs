using System.Collections.Concurrent;

namespace CopilotGuard.Anonymization;

/// <summary>Keeps pseudonym mappings in process memory, encrypted, with a sliding expiry per conversation.</summary>
/// <remarks>Suits one broker instance and tests; a scaled-out deployment uses a shared store with the same contract. Thread-safe.</remarks>
public sealed class InMemoryPseudonymVault : IPseudonymVault
{
    private readonly VaultCipher _cipher;
    private readonly TimeSpan _timeToLive;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Conversation> _conversations = new(StringComparer.Ordinal);

    private sealed class Conversation
    {
        public readonly Lock Gate = new();
        public readonly List<(string Pseudonym, string Type, byte[] Key, byte[] Value)> Rows = [];
        public readonly Dictionary<string, int> NextNumber = new(StringComparer.Ordinal);
        public DateTimeOffset ExpiresAt;
    }

    /// <summary>Initializes a new vault.</summary>
    /// <param name="key">The 32-byte encryption key.</param>
    /// <param name="timeToLive">How long an idle conversation's mapping is kept. The default is 24 hours.</param>
    /// <param name="timeProvider">The clock. The default is the system clock.</param>
    public InMemoryPseudonymVault(byte[] key, TimeSpan? timeToLive = null, TimeProvider? timeProvider = null)
    {
        _cipher = new VaultCipher(key);
        _timeToLive = timeToLive ?? TimeSpan.FromHours(24);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_timeToLive, TimeSpan.Zero, nameof(timeToLive));
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    /// <remarks>Completes synchronously.</remarks>
    public ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        string ck = _cipher.ConversationKey(conversationId);
        if (!TryGetLive(ck, out Conversation? c))
        {
            return ValueTask.FromResult<IReadOnlyList<PseudonymEntry>>([]);
        }

        lock (c.Gate)
        {
            c.ExpiresAt = _time.GetUtcNow() + _timeToLive;
            return ValueTask.FromResult<IReadOnlyList<PseudonymEntry>>([.. c.Rows.Select(r => new PseudonymEntry(r.Pseudonym, r.Type, _cipher.Unprotect(r.Key, ck), _cipher.Unprotect(r.Value, ck)))]);
        }
    }

    /// <inheritdoc />
    /// <remarks>Completes synchronously.</remarks>
    public ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddAsync(string conversationId, IReadOnlyList<PseudonymSubject> subjects, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        foreach (PseudonymSubject subject in subjects)
        {
            ArgumentNullException.ThrowIfNull(subject);
        }

        string ck = _cipher.ConversationKey(conversationId);
        while (true)
        {
            Conversation c = _conversations.GetOrAdd(ck, _ => new Conversation { ExpiresAt = _time.GetUtcNow() + _timeToLive });
            lock (c.Gate)
            {
                if (c.ExpiresAt <= _time.GetUtcNow())
                {
                    _conversations.TryRemove(new KeyValuePair<string, Conversation>(ck, c));
                    continue;
                }

                c.ExpiresAt = _time.GetUtcNow() + _timeToLive;
                var entries = new PseudonymEntry[subjects.Count];
                for (int i = 0; i < entries.Length; i++)
                {
                    entries[i] = GetOrAdd(c, ck, subjects[i]);
                }

                return ValueTask.FromResult<IReadOnlyList<PseudonymEntry>>(entries);
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>Completes synchronously.</remarks>
    public ValueTask<bool> RemoveAsync(string conversationId, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_conversations.TryRemove(_cipher.ConversationKey(conversationId), out _));

    private PseudonymEntry GetOrAdd(Conversation c, string ck, PseudonymSubject subject)
    {
        foreach (var row in c.Rows)
        {
            if (row.Type == subject.EntityType && _cipher.Unprotect(row.Key, ck) == subject.SubjectKey)
            {
                return new PseudonymEntry(row.Pseudonym, row.Type, subject.SubjectKey, _cipher.Unprotect(row.Value, ck));
            }
        }

        int n = c.NextNumber.GetValueOrDefault(subject.EntityType) + 1;
        c.NextNumber[subject.EntityType] = n;
        string pseudonym = $"<{subject.EntityType}_{n}>";
        c.Rows.Add((pseudonym, subject.EntityType, _cipher.Protect(subject.SubjectKey, ck), _cipher.Protect(subject.OriginalValue, ck)));
        return new PseudonymEntry(pseudonym, subject.EntityType, subject.SubjectKey, subject.OriginalValue);
    }

    private bool TryGetLive(string ck, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Conversation? conversation)
    {
        if (_conversations.TryGetValue(ck, out conversation))
        {
            if (conversation.ExpiresAt > _time.GetUtcNow())
            {
                return true;
            }

            _conversations.TryRemove(new KeyValuePair<string, Conversation>(ck, conversation));
        }

        conversation = null;
        return false;
    }
}
