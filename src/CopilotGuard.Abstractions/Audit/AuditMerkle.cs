using System.Security.Cryptography;

namespace CopilotGuard.Audit;

/// <summary>Computes RFC 9162 Merkle tree hashes, roots and inclusion proofs over audit entries.</summary>
/// <remarks>The leaves are the stored record bytes in sequence order; a leaf hash is <c>SHA-256(0x00 || payload)</c>
/// and an interior node <c>SHA-256(0x01 || left || right)</c>, exactly as in RFC 9162 section 2.1.1, so any
/// Certificate Transparency style verifier can check a proof.</remarks>
public static class AuditMerkle
{
    /// <summary>Computes the leaf hash of an entry's stored bytes.</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> payload)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hasher.AppendData([0x00]);
        hasher.AppendData(payload);
        return hasher.GetHashAndReset();
    }

    /// <summary>Computes the hash of an interior node from its children.</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> input = stackalloc byte[1 + left.Length + right.Length <= 256 ? 1 + left.Length + right.Length : 0];
        if (input.IsEmpty)
        {
            using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hasher.AppendData([0x01]);
            hasher.AppendData(left);
            hasher.AppendData(right);
            return hasher.GetHashAndReset();
        }

        input[0] = 0x01;
        left.CopyTo(input[1..]);
        right.CopyTo(input[(1 + left.Length)..]);
        return SHA256.HashData(input);
    }

    /// <summary>Computes the root of a tree over leaf hashes (the hash of the empty string for no leaves).</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        return leaves.Count == 0 ? SHA256.HashData([]) : Subtree(leaves, 0, leaves.Count);
    }

    /// <summary>Builds the inclusion proof (audit path) of leaf <paramref name="index"/> (from 0) in the tree over <paramref name="leaves"/>.</summary>
    public static IReadOnlyList<byte[]> InclusionProof(IReadOnlyList<byte[]> leaves, long index)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, leaves.Count);
        var path = new List<byte[]>();
        Path((int)index, 0, leaves.Count, leaves, path);
        return path;
    }

    /// <summary>Checks an inclusion proof against a root, as in RFC 9162 section 2.1.3.2.</summary>
    /// <param name="leafHash">The leaf hash of the entry.</param>
    /// <param name="index">The entry's index (sequence minus one).</param>
    /// <param name="treeSize">The size of the tree the root covers.</param>
    /// <param name="proof">The audit path, bottom up.</param>
    /// <param name="root">The expected root.</param>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || index >= treeSize)
        {
            return false;
        }

        long fn = index, sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && r.AsSpan().SequenceEqual(root);
    }

    private static byte[] Subtree(IReadOnlyList<byte[]> leaves, int start, int count)
    {
        if (count == 1)
        {
            return leaves[start];
        }

        var split = LargestPowerOfTwoBelow(count);
        return NodeHash(Subtree(leaves, start, split), Subtree(leaves, start + split, count - split));
    }

    private static void Path(int index, int start, int count, IReadOnlyList<byte[]> leaves, List<byte[]> path)
    {
        if (count == 1)
        {
            return;
        }

        var split = LargestPowerOfTwoBelow(count);
        if (index < split)
        {
            Path(index, start, split, leaves, path);
            path.Add(Subtree(leaves, start + split, count - split));
        }
        else
        {
            Path(index - split, start + split, count - split, leaves, path);
            path.Add(Subtree(leaves, start, split));
        }
    }

    private static int LargestPowerOfTwoBelow(int n)
    {
        var k = 1;
        while (k << 1 < n)
        {
            k <<= 1;
        }

        return k;
    }
}

/// <summary>Maintains the root of a growing Merkle tree in O(log n) memory (the right frontier of perfect subtrees).</summary>
/// <remarks>Not thread-safe; owned by one writer.</remarks>
public sealed class MerkleFrontier
{
    private readonly List<byte[]> _nodes = [];

    /// <summary>Gets how many leaves have been added.</summary>
    public long Size { get; private set; }

    /// <summary>Adds a leaf hash.</summary>
    public void Append(byte[] leafHash)
    {
        ArgumentNullException.ThrowIfNull(leafHash);
        var hash = leafHash;
        var size = Size;
        // Merge perfect subtrees of equal height, like a binary counter carrying.
        while ((size & 1) == 1)
        {
            hash = AuditMerkle.NodeHash(_nodes[^1], hash);
            _nodes.RemoveAt(_nodes.Count - 1);
            size >>= 1;
        }

        _nodes.Add(hash);
        Size++;
    }

    /// <summary>Computes the current root (the hash of the empty string while empty).</summary>
    public byte[] Root()
    {
        if (_nodes.Count == 0)
        {
            return SHA256.HashData([]);
        }

        var root = _nodes[^1];
        for (var i = _nodes.Count - 2; i >= 0; i--)
        {
            root = AuditMerkle.NodeHash(_nodes[i], root);
        }

        return root;
    }

    /// <summary>Copies the frontier, so a writer can extend the copy and keep the original if its transaction fails.</summary>
    public MerkleFrontier Clone()
    {
        var copy = new MerkleFrontier { Size = Size };
        copy._nodes.AddRange(_nodes);
        return copy;
    }

    /// <summary>Serializes the frontier, so a writer can resume without re-reading every leaf.</summary>
    public byte[] Save()
    {
        var bytes = new byte[sizeof(long) + (_nodes.Count * SHA256.HashSizeInBytes)];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, Size);
        for (var i = 0; i < _nodes.Count; i++)
        {
            _nodes[i].CopyTo(bytes, sizeof(long) + (i * SHA256.HashSizeInBytes));
        }

        return bytes;
    }

    /// <summary>Restores a frontier saved by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a saved frontier.</exception>
    public static MerkleFrontier Load(ReadOnlySpan<byte> saved)
    {
        if (saved.Length < sizeof(long) || (saved.Length - sizeof(long)) % SHA256.HashSizeInBytes != 0)
        {
            throw new InvalidDataException("The saved Merkle frontier is malformed.");
        }

        var frontier = new MerkleFrontier { Size = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(saved) };
        for (var offset = sizeof(long); offset < saved.Length; offset += SHA256.HashSizeInBytes)
        {
            frontier._nodes.Add(saved.Slice(offset, SHA256.HashSizeInBytes).ToArray());
        }

        if (System.Numerics.BitOperations.PopCount((ulong)frontier.Size) != frontier._nodes.Count)
        {
            throw new InvalidDataException("The saved Merkle frontier does not match its size.");
        }

        return frontier;
    }
}
