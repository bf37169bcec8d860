using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace CopilotGuard.Anonymization;

/// <summary>One pseudonym of a conversation and the real value it stands for.</summary>
/// <param name="Pseudonym">The placeholder written into the text, such as &lt;PERSON_1&gt;.</param>
/// <param name="EntityType">The entity type.</param>
/// <param name="SubjectKey">The key that identifies the subject (a subject id, or a normalized value).</param>
/// <param name="OriginalValue">The first real value seen for the subject; de-anonymization restores it.</param>
public sealed record PseudonymEntry(string Pseudonym, string EntityType, string SubjectKey, string OriginalValue);

/// <summary>Stores the pseudonym mapping of each conversation, keyed, expiring and encrypted at rest.</summary>
/// <remarks>Implementations must be thread-safe and must assign each (conversation, type, subject key) one pseudonym only, even under races.</remarks>
public interface IPseudonymVault
{
    /// <summary>Returns the pseudonyms of a conversation (empty when unknown or expired).</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <returns>The entries, in creation order.</returns>
    IReadOnlyList<PseudonymEntry> GetEntries(string conversationId);

    /// <summary>Returns the pseudonym of a subject in a conversation, creating the next &lt;TYPE_n&gt; when there is none.</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="entityType">The entity type.</param>
    /// <param name="subjectKey">The key identifying the subject within the type.</param>
    /// <param name="originalValue">The real value, stored for de-anonymization when the entry is new.</param>
    /// <returns>The existing or new entry.</returns>
    PseudonymEntry GetOrAdd(string conversationId, string entityType, string subjectKey, string originalValue);

    /// <summary>Deletes a conversation's mapping; returns whether it existed.</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <returns><see langword="true"/> when a mapping was removed.</returns>
    bool Remove(string conversationId);
}

/// <summary>Encrypts vault contents with AES-GCM and derives opaque conversation keys with HMAC-SHA256; shared by vault implementations.</summary>
public sealed class VaultCipher
{
    private readonly byte[] _key;

    /// <summary>Initializes a new cipher.</summary>
    /// <param name="key">A 32-byte key; used for AES-256-GCM and, through HMAC, for conversation keys.</param>
    public VaultCipher(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != 32)
        {
            throw new ArgumentException("The vault key must be 32 bytes.", nameof(key));
        }

        _key = (byte[])key.Clone();
    }

    /// <summary>Returns an opaque, stable storage key for a conversation id, so stored rows do not reveal it.</summary>
    /// <param name="conversationId">The conversation id.</param>
    /// <returns>The lowercase hex HMAC-SHA256 of the id.</returns>
    public string ConversationKey(string conversationId)
    {
        ArgumentNullException.ThrowIfNull(conversationId);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes("conversation:" + conversationId)));
    }

    /// <summary>Encrypts a string; the result is nonce | ciphertext | tag.</summary>
    /// <param name="plaintext">The value.</param>
    /// <param name="associatedData">Data bound to the ciphertext (e.g. the conversation key).</param>
    /// <returns>The sealed bytes.</returns>
    public byte[] Protect(string plaintext, string associatedData)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(associatedData);
        return AesGcmBox.Seal(_key, Encoding.UTF8.GetBytes(plaintext), Encoding.UTF8.GetBytes(associatedData));
    }

    /// <summary>Decrypts what <see cref="Protect"/> produced; throws <see cref="CryptographicException"/> when it was altered.</summary>
    /// <param name="sealedData">The sealed bytes.</param>
    /// <param name="associatedData">The same associated data as when sealing.</param>
    /// <returns>The value.</returns>
    public string Unprotect(byte[] sealedData, string associatedData)
    {
        ArgumentNullException.ThrowIfNull(sealedData);
        ArgumentNullException.ThrowIfNull(associatedData);
        return Encoding.UTF8.GetString(AesGcmBox.Open(_key, sealedData, Encoding.UTF8.GetBytes(associatedData)));
    }
}

/// <summary>AES-256-GCM with a random 12-byte nonce and a 16-byte tag, laid out as nonce | ciphertext | tag.</summary>
internal static class AesGcmBox
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public static byte[] Seal(byte[] key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        byte[] output = new byte[NonceSize + plaintext.Length + TagSize];
        Span<byte> nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length), associatedData);
        return output;
    }

    public static byte[] Open(byte[] key, ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData)
    {
        if (sealedData.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("The sealed data is too short.");
        }

        byte[] plaintext = new byte[sealedData.Length - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(sealedData[..NonceSize], sealedData[NonceSize..^TagSize], sealedData[^TagSize..], plaintext, associatedData);
        return plaintext;
    }
}

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
    public IReadOnlyList<PseudonymEntry> GetEntries(string conversationId)
    {
        string ck = _cipher.ConversationKey(conversationId);
        if (!TryGetLive(ck, out Conversation? c))
        {
            return [];
        }

        lock (c.Gate)
        {
            c.ExpiresAt = _time.GetUtcNow() + _timeToLive;
            return [.. c.Rows.Select(r => new PseudonymEntry(r.Pseudonym, r.Type, _cipher.Unprotect(r.Key, ck), _cipher.Unprotect(r.Value, ck)))];
        }
    }

    /// <inheritdoc />
    public PseudonymEntry GetOrAdd(string conversationId, string entityType, string subjectKey, string originalValue)
    {
        ArgumentNullException.ThrowIfNull(entityType);
        ArgumentNullException.ThrowIfNull(subjectKey);
        ArgumentNullException.ThrowIfNull(originalValue);
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
                foreach (var row in c.Rows)
                {
                    if (row.Type == entityType && _cipher.Unprotect(row.Key, ck) == subjectKey)
                    {
                        return new PseudonymEntry(row.Pseudonym, row.Type, subjectKey, _cipher.Unprotect(row.Value, ck));
                    }
                }

                int n = c.NextNumber.GetValueOrDefault(entityType) + 1;
                c.NextNumber[entityType] = n;
                string pseudonym = $"<{entityType}_{n}>";
                c.Rows.Add((pseudonym, entityType, _cipher.Protect(subjectKey, ck), _cipher.Protect(originalValue, ck)));
                return new PseudonymEntry(pseudonym, entityType, subjectKey, originalValue);
            }
        }
    }

    /// <inheritdoc />
    public bool Remove(string conversationId) => _conversations.TryRemove(_cipher.ConversationKey(conversationId), out _);

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
