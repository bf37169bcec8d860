namespace CopilotGuard.Hosting;

/// <summary>The layout of a CopilotGuard data folder: stores, keys, directory and policies.</summary>
public sealed class DataFolder
{
    /// <summary>Creates the layout for a folder (which need not exist yet).</summary>
    public DataFolder(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = Path.GetFullPath(root);
    }

    /// <summary>Gets the folder's full path.</summary>
    public string Root { get; }

    /// <summary>Gets the SQLite chunk store.</summary>
    public string StorePath => Path.Combine(Root, "store.db");

    /// <summary>Gets the SQLite audit log.</summary>
    public string AuditPath => Path.Combine(Root, "audit.db");

    /// <summary>Gets the folder holding keys (development issuer, query-hash key).</summary>
    public string KeysPath => Path.Combine(Root, "keys");

    /// <summary>Gets the directory file.</summary>
    public string DirectoryPath => Path.Combine(Root, "directory.yaml");

    /// <summary>Gets the optional attribute schema (declared principal, resource and request attribute types) policies
    /// are checked against.</summary>
    public string AttributesPath => Path.Combine(Root, CopilotGuard.Typing.AttributeSchemaFile.FileName);

    /// <summary>Gets the registered destinations file (without it every request is treated as external, ceiling General).</summary>
    public string DestinationsPath => Path.Combine(Root, CopilotGuard.Identity.DestinationRegistry.FileName);

    /// <summary>Gets the label taxonomy and labeling rules file.</summary>
    public string LabelsPath => Path.Combine(Root, "labels.yaml");

    /// <summary>Gets the optional custom recognizers file (regex + validator + context words), validated at start-up.</summary>
    public string RecognizersPath => Path.Combine(Root, "recognizers.yaml");

    /// <summary>Gets the pseudonym vault (conversation pseudonyms, encrypted at rest).</summary>
    public string VaultPath => Path.Combine(Root, "vault.db");

    /// <summary>Gets the audit retention file (optional: without it nothing expires).</summary>
    public string RetentionPath => Path.Combine(Root, CopilotGuard.Audit.RetentionFile.FileName);

    /// <summary>Gets the policy folder.</summary>
    public string PoliciesPath => Path.Combine(Root, "policies");

    /// <summary>Gets the file of data-subject names (from structured rows) that the anonymizer recognizes.</summary>
    public string SubjectNamesPath => Path.Combine(Root, "subject-names.json");

    /// <summary>Gets the marker written once the sample data is fully seeded into the embedded SQLite store.</summary>
    public string SeededMarkerPath => Path.Combine(Root, ".seeded");

    /// <summary>Gets whether the sample data was seeded into any store from this folder.</summary>
    public bool IsSeeded => Directory.Exists(Root) && Directory.EnumerateFiles(Root, ".seeded*").Any();

    /// <summary>Gets the marker written once the sample data is seeded into one store, named by its
    /// <see cref="StoreSettings.Identity"/>; the embedded SQLite store's is <see cref="SeededMarkerPath"/>.</summary>
    /// <exception cref="ArgumentException">The identity is not a file-name-safe key.</exception>
    public string GetSeededMarkerPath(string storeIdentity)
    {
        ArgumentException.ThrowIfNullOrEmpty(storeIdentity);
        if (!storeIdentity.All(static c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw new ArgumentException($"The store identity '{storeIdentity}' must be lowercase letters, digits and dashes.", nameof(storeIdentity));
        }

        return storeIdentity == StoreSettings.Sqlite ? SeededMarkerPath : Path.Combine(Root, ".seeded-" + storeIdentity);
    }

    /// <summary>Gets the folder the sample files ship in, next to the program.</summary>
    public static string SamplesPath => Path.Combine(AppContext.BaseDirectory, "samples");

    /// <summary>Reads a secret key file, creating it with random bytes (owner-only permissions) if missing.</summary>
    public byte[] GetOrCreateSecret(string name, int length = 32)
    {
        Directory.CreateDirectory(KeysPath);
        var path = Path.Combine(KeysPath, name);
        if (File.Exists(path))
        {
            var existing = Convert.FromBase64String(File.ReadAllText(path).Trim());
            return existing.Length >= length ? existing : throw new InvalidDataException($"{path}: the key is shorter than {length} bytes.");
        }

        var secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(length);
        WriteSecret(path, Convert.ToBase64String(secret));
        return secret;
    }

    /// <summary>Writes a secret file readable only by its owner (where the OS supports it), atomically.</summary>
    public static void WriteSecret(string path, string content)
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

        File.Move(temp, path, overwrite: true);
    }
}
