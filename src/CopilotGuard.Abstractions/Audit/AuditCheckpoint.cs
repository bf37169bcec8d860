using System.Globalization;
using System.Text;

namespace CopilotGuard.Audit;

/// <summary>A signed statement of the log's state after <see cref="TreeSize"/> entries: the chain head and the Merkle root.</summary>
/// <remarks>Anyone holding the public key can check a checkpoint offline; a checkpoint copied out of the log (to a
/// witness, a ticket, an e-mail) later proves that no entry up to <see cref="TreeSize"/> was changed, removed or reordered.</remarks>
/// <param name="TreeSize">How many entries the checkpoint covers (the last covered sequence).</param>
/// <param name="Time">When the checkpoint was made.</param>
/// <param name="ChainHead">The chain hash of entry <see cref="TreeSize"/> (lowercase hex).</param>
/// <param name="MerkleRoot">The RFC 9162 Merkle root over entries 1..<see cref="TreeSize"/> (lowercase hex).</param>
/// <param name="KeyId">Which key signed it.</param>
/// <param name="Signature">The signature over <see cref="SignedText"/> (base64).</param>
public sealed record AuditCheckpoint(long TreeSize, DateTimeOffset Time, string ChainHead, string MerkleRoot, string KeyId, string Signature)
{
    /// <summary>The first line of every signed checkpoint; names the format version.</summary>
    public const string Origin = "copilotguard-audit-checkpoint/v1";

    /// <summary>Gets the exact text that is signed: the origin line, then tree size, chain head, Merkle root, time and key id, one per line.</summary>
    public string SignedText => Format(TreeSize, Time, ChainHead, MerkleRoot, KeyId);

    /// <summary>Formats the signed text of a checkpoint.</summary>
    public static string Format(long treeSize, DateTimeOffset time, string chainHead, string merkleRoot, string keyId) =>
        string.Create(CultureInfo.InvariantCulture, $"{Origin}\n{treeSize}\n{chainHead}\n{merkleRoot}\n{time.ToUniversalTime():yyyy-MM-ddTHH:mm:ss.fffffffZ}\n{keyId}\n");

    /// <summary>Creates and signs a checkpoint.</summary>
    public static AuditCheckpoint Create(long treeSize, DateTimeOffset time, string chainHead, string merkleRoot, IAuditSigner signer)
    {
        ArgumentNullException.ThrowIfNull(signer);
        var text = Format(treeSize, time, chainHead, merkleRoot, signer.KeyId);
        return new AuditCheckpoint(treeSize, time, chainHead, merkleRoot, signer.KeyId, Convert.ToBase64String(signer.Sign(Encoding.UTF8.GetBytes(text))));
    }

    /// <summary>Checks the signature with a verifier that knows the key.</summary>
    public bool IsSignedBy(IAuditSigner verifier)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        if (!string.Equals(KeyId, verifier.KeyId, StringComparison.Ordinal))
        {
            return false;
        }

        var signature = new byte[Signature.Length];
        return Convert.TryFromBase64String(Signature, signature, out var length)
            && verifier.Verify(Encoding.UTF8.GetBytes(SignedText), signature.AsSpan(0, length));
    }
}

/// <summary>Signs and verifies audit checkpoints with one key.</summary>
/// <remarks>Implementations must be thread-safe.</remarks>
public interface IAuditSigner
{
    /// <summary>Gets the key id written into checkpoints (derived from the public key).</summary>
    string KeyId { get; }

    /// <summary>Signs bytes.</summary>
    byte[] Sign(ReadOnlySpan<byte> data);

    /// <summary>Checks a signature over bytes.</summary>
    bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);
}
