using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Audit;

namespace CopilotGuard.Tests.Audit;

/// <summary>The chain link and Merkle node hashes equal their definitions (SHA-256 over the concatenated parts) for
/// every input, including previous hashes that are not 64 ASCII characters (a damaged log must still verify the same way).</summary>
public sealed class AuditChainHashTests
{
    [Fact]
    public void LinkLeaf_RandomInputs_EqualsSha256OfTheConcatenation()
    {
        var random = new Random(17);
        for (var round = 0; round < 2000; round++)
        {
            var previous = (round % 5) switch
            {
                0 => AuditChain.Genesis,
                1 => Convert.ToHexStringLower(RandomBytes(random, 32)),
                2 => new string('a', random.Next(0, 130)),
                3 => "é" + Convert.ToHexStringLower(RandomBytes(random, 31)) + "z",
                _ => Convert.ToHexStringLower(RandomBytes(random, 32)).ToUpperInvariant(),
            };
            var sequence = random.NextInt64(long.MinValue, long.MaxValue);
            var leaf = RandomBytes(random, 32);

            var sequenceBytes = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(sequenceBytes, sequence);
            byte[] expected = SHA256.HashData([0x01, .. Encoding.ASCII.GetBytes(previous), .. sequenceBytes, .. leaf]);

            Assert.Equal(Convert.ToHexStringLower(expected), AuditChain.LinkLeaf(previous, sequence, leaf));
        }
    }

    [Fact]
    public void NodeHash_RandomChildren_EqualsSha256OfTheConcatenation()
    {
        var random = new Random(19);
        for (var round = 0; round < 500; round++)
        {
            var left = RandomBytes(random, round % 7 == 0 ? random.Next(0, 300) : 32);
            var right = RandomBytes(random, round % 11 == 0 ? random.Next(0, 300) : 32);

            Assert.Equal(SHA256.HashData([0x01, .. left, .. right]), AuditMerkle.NodeHash(left, right));
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
