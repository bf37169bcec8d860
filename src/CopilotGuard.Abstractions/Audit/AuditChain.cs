using System.Security.Cryptography;
using System.Text;

namespace CopilotGuard.Audit;

/// <summary>Computes the hash chain shared by every audit log implementation.</summary>
/// <remarks>Leaf and link hashing follow RFC 9162's domain separation: <c>0x00</c> prefixes a leaf,
/// <c>0x01</c> a link, so a leaf can never be passed off as a link.</remarks>
public static class AuditChain
{
    /// <summary>Gets the hash that precedes the first entry.</summary>
    public static string Genesis { get; } = new('0', 64);

    /// <summary>Computes the chain hash of an entry from the previous hash and the entry's stored bytes.</summary>
    public static string Link(string previousHash, long sequence, ReadOnlySpan<byte> payload) =>
        LinkLeaf(previousHash, sequence, AuditMerkle.LeafHash(payload));

    /// <summary>Computes the chain hash of an entry from the previous hash and the entry's RFC 9162 leaf hash.</summary>
    /// <remarks>Lets the chain be recomputed over entries whose payload expired under retention and only the leaf hash is kept.</remarks>
    public static string LinkLeaf(string previousHash, long sequence, ReadOnlySpan<byte> leafHash)
    {
        ArgumentNullException.ThrowIfNull(previousHash);
        if (leafHash.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("A leaf hash is 32 bytes.", nameof(leafHash));
        }

        // 0x01 || previous hash (ASCII) || sequence (big-endian) || leaf hash. A chain hash is 64 ASCII characters, hashed
        // in one call from the stack; any other text (a damaged or edited log) takes the general path, with the same result.
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        if (previousHash.Length == 64 && Ascii.IsValid(previousHash))
        {
            Span<byte> input = stackalloc byte[1 + 64 + sizeof(long) + SHA256.HashSizeInBytes];
            input[0] = 0x01;
            Encoding.ASCII.GetBytes(previousHash, input.Slice(1, 64));
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(input.Slice(65, sizeof(long)), sequence);
            leafHash.CopyTo(input[(65 + sizeof(long))..]);
            SHA256.HashData(input, hash);
            return Convert.ToHexStringLower(hash);
        }

        using var link = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        link.AppendData([0x01]);
        link.AppendData(Encoding.ASCII.GetBytes(previousHash));
        Span<byte> sequenceBytes = stackalloc byte[sizeof(long)];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(sequenceBytes, sequence);
        link.AppendData(sequenceBytes);
        link.AppendData(leafHash);
        link.GetHashAndReset(hash);
        return Convert.ToHexStringLower(hash);
    }
}
