using CopilotGuard.Anonymization;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.LocalEmbeddings;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Labeling;
using CopilotGuard.Labels;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Server.Identity;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Server.Hosting;

/// <summary>The embedded default wired together over one data folder: SQLite store and audit log, the local MiniLM
/// embedder, the YAML directory, the policy bundle, the development issuer and the broker.</summary>
/// <remarks>Shared by the server and the CLI so both run exactly the same pipeline. Opening fails (and nothing
/// starts) when the policy bundle or the directory is invalid.</remarks>
public sealed class CopilotGuardRuntime : IAsyncDisposable
{
    private CopilotGuardRuntime(
        DataFolder data,
        SqliteChunkStore store,
        SqliteAuditLog audit,
        IEmbeddingGenerator<string, Embedding<float>> embedder,
        DirectoryFile directory,
        PolicyBundle policy,
        DevelopmentIssuer issuer,
        RetrievalBroker broker)
    {
        Data = data;
        Store = store;
        Audit = audit;
        Embedder = embedder;
        Directory = directory;
        Policy = policy;
        Issuer = issuer;
        Broker = broker;
    }

    /// <summary>Gets the data folder.</summary>
    public DataFolder Data { get; }

    /// <summary>Gets the chunk store.</summary>
    public SqliteChunkStore Store { get; }

    /// <summary>Gets the audit log.</summary>
    public SqliteAuditLog Audit { get; }

    /// <summary>Gets answer registration and the compliance queries over the audit log.</summary>
    public AuditService AuditService => _auditService ??= new AuditService(Audit, Audit, Broker, gates: Broker.Gates);

    private AuditService? _auditService;

    /// <summary>Gets the embedder.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> Embedder { get; }

    /// <summary>Gets the directory of principals.</summary>
    public DirectoryFile Directory { get; }

    /// <summary>Gets the policy bundle.</summary>
    public PolicyBundle Policy { get; }

    /// <summary>Gets the development token issuer.</summary>
    public DevelopmentIssuer Issuer { get; }

    /// <summary>Gets the zero-trust parts: agent registry, kill switch, rate limits and anomaly responses.</summary>
    public ContinuousVerification Verification { get; private init; } = null!;

    /// <summary>Gets the retrieval broker.</summary>
    public RetrievalBroker Broker { get; }

    /// <summary>Gets the label taxonomy.</summary>
    public static LabelTaxonomy Labels => LabelTaxonomy.Default;

    /// <summary>Reads the data folder's <c>labels.yaml</c> (taxonomy, label rules, auto-elevation), or the defaults when it has none.</summary>
    /// <exception cref="PolicyValidationException">The labels file is invalid.</exception>
    public static async Task<LabelingPolicy> LoadLabelingAsync(DataFolder data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        return File.Exists(data.LabelsPath) ? await LabelFile.LoadAsync(data.LabelsPath, cancellationToken).ConfigureAwait(false) : LabelingPolicy.Default;
    }

    /// <summary>Opens a data folder, seeding it with the sample directory, policies and corpus on first use.</summary>
    /// <param name="data">The data folder.</param>
    /// <param name="seed">Whether to copy and ingest the samples into a new folder.</param>
    /// <param name="progress">Receives ingestion progress while seeding.</param>
    /// <param name="loggerFactory">Creates loggers for the broker.</param>
    /// <param name="verificationSettings">Rate limits, anomaly detection and entitlement cache settings; the defaults when null.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    public static async Task<CopilotGuardRuntime> OpenAsync(
        DataFolder data,
        bool seed = true,
        IProgress<IngestionProgress>? progress = null,
        ILoggerFactory? loggerFactory = null,
        ContinuousVerificationSettings? verificationSettings = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        System.IO.Directory.CreateDirectory(data.Root);
        if (seed)
        {
            CopySamples(data);
        }

        var labeling = await LoadLabelingAsync(data, cancellationToken).ConfigureAwait(false);
        var labels = labeling.Taxonomy;
        var policy = await new PolicyLoader(labels).LoadDirectoryAsync(data.PoliciesPath, cancellationToken).ConfigureAwait(false);
        if (!File.Exists(data.DirectoryPath))
        {
            throw new FileNotFoundException($"The directory file {data.DirectoryPath} does not exist.", data.DirectoryPath);
        }

        var directory = await DirectoryFile.LoadAsync(data.DirectoryPath, labels, cancellationToken).ConfigureAwait(false);
        var store = new SqliteChunkStore(data.StorePath, labels);
        var audit = new SqliteAuditLog(data.AuditPath, new SqliteAuditLogOptions(), EcdsaAuditSigner.LoadOrCreate(Path.Combine(data.KeysPath, "audit-checkpoint.pem")));
        var embedder = new MiniLmEmbeddingGenerator();
        await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await audit.InitializeAsync(cancellationToken).ConfigureAwait(false);
        if (seed && !File.Exists(data.SeededMarkerPath))
        {
            var labeler = new ChunkLabeler(labeling, EntityAnalyzer.CreateDefault());
            var chunks = (await new CorpusReader(labels).ReadAsync(Path.Combine(DataFolder.SamplesPath, "corpus"), cancellationToken).ConfigureAwait(false))
                .Select(labeler.Apply)
                .ToList();
            await new Ingestor(store, embedder).IngestAsync(chunks, progress, cancellationToken).ConfigureAwait(false);
            await SubjectNames.MergeIntoFileAsync(data.SubjectNamesPath, SubjectNames.Extract(chunks), cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(data.SeededMarkerPath, DateTimeOffset.UtcNow.ToString("O"), cancellationToken).ConfigureAwait(false);
        }

        var names = directory.Principals
            .Where(static p => p.Kind == PrincipalKind.User && p.DisplayName is not null)
            .Select(static p => (p.DisplayName!, EntityTypes.Person, (string?)p.Id))
            .Concat((await SubjectNames.ReadFileAsync(data.SubjectNamesPath, cancellationToken).ConfigureAwait(false)).Select(static n => (n.Name, n.Type, n.SubjectId)));
        IEntityRecognizer[] recognizers = File.Exists(data.RecognizersPath)
            ? [DictionaryRecognizer.Create(names), await RecognizerFile.LoadAsync(data.RecognizersPath, cancellationToken).ConfigureAwait(false)]
            : [DictionaryRecognizer.Create(names)];
        var anonymizer = new Anonymizer(
            EntityAnalyzer.CreateDefault(recognizers),
            new AnonymizerKeys(data.GetOrCreateSecret("anonymizer-hash.key"), data.GetOrCreateSecret("anonymizer-encryption.key")),
            new InMemoryPseudonymVault(data.GetOrCreateSecret("pseudonym-vault.key"), TimeSpan.FromHours(24)));
        var releaser = new ChunkReleaser(anonymizer, data.GetOrCreateSecret("field-hash.key"));
        var verification = await ContinuousVerification.OpenAsync(data, directory, policy, store, audit, verificationSettings, seed, loggerFactory, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        var broker = new RetrievalBroker(
            verification.Entitlements,
            policy,
            store,
            embedder,
            audit,
            new QueryHasher(data.GetOrCreateSecret("query-hash.key")),
            Options.Create(new RetrievalBrokerOptions()),
            TimeProvider.System,
            loggerFactory?.CreateLogger<RetrievalBroker>(),
            releaser: releaser,
            gates: verification.Gates,
            observers: verification.Observers);
        return new CopilotGuardRuntime(data, store, audit, embedder, directory, policy, DevelopmentIssuer.LoadOrCreate(data), broker) { Verification = verification };
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Store.Dispose();
        Audit.Dispose();
        Embedder.Dispose();
        Verification?.Dispose();
        return ValueTask.CompletedTask;
    }

    private static void CopySamples(DataFolder data)
    {
        if (!File.Exists(data.DirectoryPath))
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, "directory.yaml"), data.DirectoryPath);
        }

        if (!File.Exists(data.LabelsPath) && !File.Exists(data.SeededMarkerPath))
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, "labels.yaml"), data.LabelsPath);
        }

        if (!System.IO.Directory.Exists(data.PoliciesPath))
        {
            // Copy into a temporary folder and move it into place, so a failed copy never leaves a partial bundle.
            var staging = data.PoliciesPath + ".staging";
            if (System.IO.Directory.Exists(staging))
            {
                System.IO.Directory.Delete(staging, recursive: true);
            }

            System.IO.Directory.CreateDirectory(staging);
            foreach (var file in System.IO.Directory.EnumerateFiles(Path.Combine(DataFolder.SamplesPath, "policies")))
            {
                File.Copy(file, Path.Combine(staging, Path.GetFileName(file)));
            }

            System.IO.Directory.Move(staging, data.PoliciesPath);
        }
    }
}
