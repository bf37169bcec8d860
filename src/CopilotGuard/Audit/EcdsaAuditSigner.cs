using System.Security.Cryptography;

namespace CopilotGuard.Audit;

/// <summary>Signs audit checkpoints with an ECDSA P-256 key (SHA-256, IEEE P1363 signatures).</summary>
/// <remarks>The private key lives in a PEM file created on first use with owner-only permissions; the public key is
/// written beside it (<c>.pub.pem</c>) so auditors can check checkpoints and proofs without the private key.
/// Thread-safe.</remarks>
public sealed class EcdsaAuditSigner : IAuditSigner, IDisposable
{
    private readonly ECDsa _key;

    private EcdsaAuditSigner(ECDsa key)
    {
        _key = key;
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem();
        KeyId = KeyIdOf(key);
    }

    /// <inheritdoc />
    public string KeyId { get; }

    /// <summary>Gets the public key (SubjectPublicKeyInfo PEM).</summary>
    public string PublicKeyPem { get; }

    /// <summary>Loads the signing key from a PEM file, creating the key (owner-only) and its public key file on first use.</summary>
    public static EcdsaAuditSigner LoadOrCreate(string privateKeyPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(privateKeyPath);
        var key = ECDsa.Create();
        try
        {
            if (File.Exists(privateKeyPath))
            {
                key.ImportFromPem(File.ReadAllText(privateKeyPath));
                if (key.KeySize != 256)
                {
                    throw new InvalidDataException($"{privateKeyPath}: the audit checkpoint key must be ECDSA P-256.");
                }
            }
            else
            {
                key.GenerateKey(ECCurve.NamedCurves.nistP256);
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(privateKeyPath))!);
                WriteOwnerOnly(privateKeyPath, key.ExportECPrivateKeyPem());
            }

            var signer = new EcdsaAuditSigner(key);
            var publicPath = PublicKeyPath(privateKeyPath);
            if (!File.Exists(publicPath))
            {
                File.WriteAllText(publicPath, signer.PublicKeyPem);
            }

            return signer;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Creates a verifier from a public key, for checking checkpoints and proofs offline; it cannot sign.</summary>
    public static EcdsaAuditSigner FromPublicKey(string publicKeyPem)
    {
        ArgumentException.ThrowIfNullOrEmpty(publicKeyPem);
        var key = ECDsa.Create();
        key.ImportFromPem(publicKeyPem);
        return new EcdsaAuditSigner(key);
    }

    /// <summary>Gets where the public key of a private key file is written.</summary>
    public static string PublicKeyPath(string privateKeyPath) => Path.ChangeExtension(privateKeyPath, ".pub.pem");

    /// <inheritdoc />
    public byte[] Sign(ReadOnlySpan<byte> data) => _key.SignData(data, HashAlgorithmName.SHA256);

    /// <inheritdoc />
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) => _key.VerifyData(data, signature, HashAlgorithmName.SHA256);

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();

    private static string KeyIdOf(ECDsa key) =>
        "ecdsa-p256:" + Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];

    private static void WriteOwnerOnly(string path, string content)
    {
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
        }

        File.Move(temp, path, overwrite: false);
    }
}
