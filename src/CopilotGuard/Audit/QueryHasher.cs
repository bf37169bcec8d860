using System.Security.Cryptography;
using System.Text;

namespace CopilotGuard.Audit;

/// <summary>Hashes query text with a secret key, so the audit log can match identical queries without storing them.</summary>
public sealed class QueryHasher
{
    private readonly byte[] _key;

    /// <summary>Creates a hasher with a key of at least 32 bytes.</summary>
    public QueryHasher(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length < 32)
        {
            throw new ArgumentException("The query hashing key must be at least 32 bytes.", nameof(key));
        }

        _key = [.. key];
    }

    /// <summary>Returns the HMAC-SHA256 of the text, lowercase hex.</summary>
    public string Hash(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(text)));
    }
}
