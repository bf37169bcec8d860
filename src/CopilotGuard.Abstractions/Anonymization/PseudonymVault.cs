using System.Security.Cryptography;
using System.Text;

namespace CopilotGuard.Anonymization;

/// <summary>One pseudonym of a conversation and the real value it stands for.</summary>
/// <param name="Pseudonym">The placeholder written into the text, such as &lt;PERSON_1&gt;.</param>
/// <param name="EntityType">The entity type.</param>
/// <param name="SubjectKey">The key that identifies the subject (a subject id, or a normalized value).</param>
/// <param name="OriginalValue">The first real value seen for the subject; de-anonymization restores it.</param>
public sealed record PseudonymEntry(string Pseudonym, string EntityType, string SubjectKey, string OriginalValue);

/// <summary>One subject that needs a pseudonym: its type, the key that identifies it, and the value seen.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="SubjectKey">The key identifying the subject within the type.</param>
/// <param name="OriginalValue">The real value, stored for de-anonymization when the entry is new.</param>
public sealed record PseudonymSubject(string EntityType, string SubjectKey, string OriginalValue);

/// <summary>Stores the pseudonym mapping of each conversation, keyed, expiring and encrypted at rest.</summary>
/// <remarks>
/// Implementations must be thread-safe and must assign each (conversation, type, subject key) one pseudonym only, and
/// each pseudonym one subject, even when requests of one conversation race (in one process or several). A failure to
/// read or persist throws: callers fail closed rather than release text whose placeholders cannot be restored.
/// </remarks>
public interface IPseudonymVault
{
    /// <summary>Returns the pseudonyms of a conversation (empty when unknown or expired).</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The entries, in creation order.</returns>
    ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>Returns the pseudonym of each subject in a conversation, creating the next &lt;TYPE_n&gt; for those that have none, atomically.</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="subjects">The subjects, in the order their new pseudonyms are numbered.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>One entry per subject, in the same order: existing or new.</returns>
    ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddAsync(string conversationId, IReadOnlyList<PseudonymSubject> subjects, CancellationToken cancellationToken = default);

    /// <summary>Deletes a conversation's mapping; returns whether it existed.</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns><see langword="true"/> when a mapping was removed.</returns>
    ValueTask<bool> RemoveAsync(string conversationId, CancellationToken cancellationToken = default);
}

/// <summary>Encrypts with AES-256-GCM and derives opaque keys with HMAC-SHA256; shared by vault implementations and the encrypt operator.</summary>
/// <remarks>Sealed data is laid out as a random 12-byte nonce, the ciphertext and a 16-byte tag. Thread-safe.</remarks>
public sealed class VaultCipher
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly byte[] _key;

    /// <summary>Initializes a new cipher.</summary>
    /// <param name="key">A 32-byte key; used for AES-256-GCM and, through HMAC, for conversation and lookup keys.</param>
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

    /// <summary>Returns an opaque, stable lookup key for a subject of a conversation, so a store can find and deduplicate it without decrypting.</summary>
    /// <param name="conversationKey">The conversation's storage key (see <see cref="ConversationKey"/>).</param>
    /// <param name="entityType">The entity type.</param>
    /// <param name="subjectKey">The subject key.</param>
    /// <returns>The lowercase hex HMAC-SHA256 of the three values.</returns>
    public string SubjectLookupKey(string conversationKey, string entityType, string subjectKey)
    {
        ArgumentNullException.ThrowIfNull(conversationKey);
        ArgumentNullException.ThrowIfNull(entityType);
        ArgumentNullException.ThrowIfNull(subjectKey);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"subject:{conversationKey.Length}:{conversationKey}{entityType.Length}:{entityType}{subjectKey}")));
    }

    /// <summary>Encrypts a string; the result is nonce | ciphertext | tag.</summary>
    /// <param name="plaintext">The value.</param>
    /// <param name="associatedData">Data bound to the ciphertext (e.g. the conversation key).</param>
    /// <returns>The sealed bytes.</returns>
    public byte[] Protect(string plaintext, string associatedData)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(associatedData);
        return Seal(Encoding.UTF8.GetBytes(plaintext), Encoding.UTF8.GetBytes(associatedData));
    }

    /// <summary>Decrypts what <see cref="Protect"/> produced; throws <see cref="CryptographicException"/> when it was altered.</summary>
    /// <param name="sealedData">The sealed bytes.</param>
    /// <param name="associatedData">The same associated data as when sealing.</param>
    /// <returns>The value.</returns>
    public string Unprotect(byte[] sealedData, string associatedData)
    {
        ArgumentNullException.ThrowIfNull(sealedData);
        ArgumentNullException.ThrowIfNull(associatedData);
        return Encoding.UTF8.GetString(Open(sealedData, Encoding.UTF8.GetBytes(associatedData)));
    }

    /// <summary>Encrypts bytes with AES-256-GCM and a random nonce; the result is nonce | ciphertext | tag.</summary>
    /// <param name="plaintext">The bytes to encrypt.</param>
    /// <param name="associatedData">Data bound to the ciphertext.</param>
    /// <returns>The sealed bytes.</returns>
    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        byte[] output = new byte[NonceSize + plaintext.Length + TagSize];
        Span<byte> nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length), associatedData);
        return output;
    }

    /// <summary>Decrypts what <see cref="Seal"/> produced; throws <see cref="CryptographicException"/> when it was altered or sealed with another key or associated data.</summary>
    /// <param name="sealedData">The sealed bytes.</param>
    /// <param name="associatedData">The same associated data as when sealing.</param>
    /// <returns>The plaintext bytes.</returns>
    public byte[] Open(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData)
    {
        if (sealedData.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("The sealed data is too short.");
        }

        byte[] plaintext = new byte[sealedData.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(sealedData[..NonceSize], sealedData[NonceSize..^TagSize], sealedData[^TagSize..], plaintext, associatedData);
        return plaintext;
    }
}
