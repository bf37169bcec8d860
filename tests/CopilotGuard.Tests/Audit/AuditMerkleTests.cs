using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Audit;

namespace CopilotGuard.Tests.Audit;

public sealed class AuditMerkleTests
{
    [Fact]
    public void Root_EmptyTree_IsHashOfEmptyString()
    {
        Assert.Equal(SHA256.HashData([]), AuditMerkle.Root([]));
        Assert.Equal(SHA256.HashData([]), new MerkleFrontier().Root());
    }

    [Fact]
    public void Root_TwoLeaves_FollowsRfc9162DomainSeparation()
    {
        var a = AuditMerkle.LeafHash("a"u8);
        var b = AuditMerkle.LeafHash("b"u8);

        Assert.Equal(SHA256.HashData([0x00, .. "a"u8]), a);
        Assert.Equal(SHA256.HashData([0x01, .. a, .. b]), AuditMerkle.Root([a, b]));
    }

    [Fact]
    public void Frontier_EverySize_MatchesTheRecursiveRootAndSurvivesSaveLoad()
    {
        var leaves = new List<byte[]>();
        var frontier = new MerkleFrontier();
        for (var size = 1; size <= 70; size++)
        {
            var leaf = AuditMerkle.LeafHash(Encoding.UTF8.GetBytes($"record {size}"));
            leaves.Add(leaf);
            frontier.Append(leaf);
            Assert.Equal(AuditMerkle.Root(leaves), frontier.Root());
            frontier = MerkleFrontier.Load(frontier.Save());
        }
    }

    [Fact]
    public void VerifyInclusion_EveryLeafOfEverySize_HoldsAndFailsForAnotherLeaf()
    {
        var leaves = Enumerable.Range(0, 37).Select(static i => AuditMerkle.LeafHash(BitConverter.GetBytes(i))).ToList();
        for (var size = 1; size <= leaves.Count; size++)
        {
            var tree = leaves.Take(size).ToList();
            var root = AuditMerkle.Root(tree);
            for (var index = 0; index < size; index++)
            {
                var proof = AuditMerkle.InclusionProof(tree, index);
                Assert.True(AuditMerkle.VerifyInclusion(tree[index], index, size, proof, root), $"leaf {index} of {size}");
                Assert.False(AuditMerkle.VerifyInclusion(tree[(index + 1) % size], index, size, proof, root) && size > 1, $"wrong leaf {index} of {size}");
                Assert.False(size > 1 && AuditMerkle.VerifyInclusion(tree[index], (index + 1) % size, size, proof, root), $"wrong index {index} of {size}");
            }
        }
    }

    [Fact]
    public void Load_SizeThatDoesNotMatchTheNodes_Throws()
    {
        var frontier = new MerkleFrontier();
        frontier.Append(AuditMerkle.LeafHash("a"u8));
        var saved = frontier.Save();
        saved[7] = 3;

        Assert.Throws<InvalidDataException>(() => MerkleFrontier.Load(saved));
    }
}
