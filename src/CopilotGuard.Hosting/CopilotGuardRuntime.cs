using CopilotGuard.Anonymization;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Audit;
using CopilotGuard.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Labeling;
using CopilotGuard.Labels;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Typing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Hosting;

/// <summary>CopilotGuard wired together over one data folder: the configured chunk store, audit log and embedder (SQLite,
/// SQLite and the local MiniLM by default), the YAML directory, the policy bundle, the development issuer and the broker.</summary>
/// <remarks>Shared by the server and the CLI so both run exactly the same pipeline (<c>policy test</c> decides through
/// the broker's caller resolver, destinations and agent registry: <see cref="CreatePolicyTestRunner"/>). Opening fails (and nothing
/// starts) when the provider settings, the policy bundle or the directory are invalid, or a store cannot be reached.</remarks>
public sealed class CopilotGuardRuntime : IAsyncDisposable
{
    private readonly OwnedResources _owned;

    private CopilotGuardRuntime(
        DataFolder data,
        ProviderSettings providers,
        IChunkStore store,
        IAuditStore audit,
        IEmbeddingGenerator<string, Embedding<float>> embedder,
        IEmbeddingGenerator<string, Embedding<float>> queryEmbedder,
        PolicySnapshotHolder policy,
        DevelopmentIssuer issuer,
        RetrievalBroker broker,
        OwnedResources owned)
    {
        Data = data;
        Providers = providers;
        Store = store;
        Audit = audit;
        Embedder = embedder;
        QueryEmbedder = queryEmbedder;
        PolicyHolder = policy;
        Issuer = issuer;
        Broker = broker;
        _owned = owned;
    }

    /// <summary>Gets the data folder.</summary>
    public DataFolder Data { get; }

    /// <summary>Gets the validated provider settings the runtime was opened with.</summary>
    public ProviderSettings Providers { get; }

    /// <summary>Gets the chunk store.</summary>
    public IChunkStore Store { get; }

    /// <summary>Gets the audit log.</summary>
    public IAuditStore Audit { get; }

    /// <summary>Gets answer registration and the compliance queries over the audit log.</summary>
    public AuditService AuditService => _auditService ??= new AuditService(AuditLog, Audit, Broker.Operations);

    /// <summary>Gets the log every part of the runtime appends through (<see cref="Audit"/>, counting the appends of
    /// each HTTP request so that a refused request leaves exactly one record).</summary>
    public IAuditLog AuditLog { get; private init; } = null!;

    private AuditService? _auditService;

    /// <summary>Gets the embedder that ingestion uses.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> Embedder { get; }

    /// <summary>Gets the embedder the broker embeds queries with: <see cref="Embedder"/>, behind a
    /// <see cref="CachingQueryEmbeddingGenerator"/> when <c>CopilotGuard:Embeddings:QueryCacheSize</c> is above 0.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> QueryEmbedder { get; }

    /// <summary>Gets the directory of principals of the current policy snapshot.</summary>
    public DirectoryFile Directory => PolicyHolder.Current.Directory!;

    /// <summary>Gets the policy bundle of the current policy snapshot.</summary>
    public PolicyBundle Policy => PolicyHolder.Current.Policy;

    /// <summary>Gets the holder of everything policy-like (bundle, directory, labels, agents, destinations, schema);
    /// <see cref="PolicyReloader"/> swaps its snapshot when the files change.</summary>
    public PolicySnapshotHolder PolicyHolder { get; }

    /// <summary>Gets the label taxonomy the stores were opened with; a reload that changes it is refused.</summary>
    public LabelTaxonomy StoreLabels { get; private init; } = LabelTaxonomy.Default;

    /// <summary>Gets the settings the entitlements were composed with, for reloads to compose them the same way.</summary>
    internal ContinuousVerificationSettings? VerificationSettings { get; private init; }

    /// <summary>Gets whether the stored attribute types are checked against the schema (at start-up and on reloads).</summary>
    internal bool CheckStoredAttributeTypes { get; private init; } = true;

    /// <summary>Gets the development token issuer.</summary>
    public DevelopmentIssuer Issuer { get; }

    /// <summary>Gets the zero-trust parts: agent registry, kill switch, rate limits and anomaly responses.</summary>
    public ContinuousVerification Verification { get; private init; } = null!;

    /// <summary>Gets the retrieval broker.</summary>
    public RetrievalBroker Broker { get; }

    /// <summary>Gets the attribute schema the current policy bundle was checked against.</summary>
    public AttributeSchema AttributeSchema => PolicyHolder.Current.Schema;

    /// <summary>Creates a policy test runner that resolves principals and destinations exactly as <see cref="Broker"/> does.</summary>
    public PolicyTestRunner CreatePolicyTestRunner() => Broker.CreatePolicyTestRunner();

    /// <summary>Gets the label taxonomy.</summary>
    public static LabelTaxonomy Labels => LabelTaxonomy.Default;

    /// <summary>Reads the data folder's <c>labels.yaml</c> (taxonomy, label rules, auto-elevation), or the defaults when it has none.</summary>
    /// <exception cref="PolicyValidationException">The labels file is invalid.</exception>
    public static async Task<LabelingPolicy> LoadLabelingAsync(DataFolder data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        return File.Exists(data.LabelsPath) ? await LabelFile.LoadAsync(data.LabelsPath, cancellationToken).ConfigureAwait(false) : LabelingPolicy.Default;
    }

    /// <summary>Reads the data folder's directory and attribute schema: <c>attributes.yaml</c> when there is one, the
    /// kinds the directory's principals hold, the built-in attributes and, when a corpus folder is given, its sources'
    /// <c>attributes:</c> declarations.</summary>
    /// <exception cref="PolicyValidationException">The attributes file or the directory is invalid, or they disagree.</exception>
    /// <exception cref="IngestionException">A source of the corpus is invalid.</exception>
    public static async Task<(DirectoryFile Directory, AttributeSchema Schema)> LoadDirectoryAndSchemaAsync(DataFolder data, LabelTaxonomy labels, string? corpus, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        var file = File.Exists(data.AttributesPath) ? await AttributeSchemaFile.LoadAsync(data.AttributesPath, cancellationToken).ConfigureAwait(false) : null;
        if (!File.Exists(data.DirectoryPath))
        {
            throw new FileNotFoundException($"The directory file {data.DirectoryPath} does not exist.", data.DirectoryPath);
        }

        var directory = await DirectoryFile.LoadAsync(data.DirectoryPath, labels, AttributeSchema.Create(file)[AttributeScope.Principal], cancellationToken).ConfigureAwait(false);
        var sources = corpus is null ? [] : await CorpusReader.ReadDeclarationsAsync(corpus, cancellationToken).ConfigureAwait(false);
        return (directory, AttributeSchema.Create(file, directory.AttributeKinds, sources));
    }

    /// <summary>Opens a data folder, seeding it with the sample directory and policies, and the configured store with
    /// the sample corpus, on first use.</summary>
    /// <param name="data">The data folder.</param>
    /// <param name="seed">Whether to copy the samples into a new folder and ingest the corpus into a store that has none.</param>
    /// <param name="progress">Receives ingestion progress while seeding.</param>
    /// <param name="loggerFactory">Creates loggers for the broker.</param>
    /// <param name="verificationSettings">Rate limits, anomaly detection and entitlement cache settings; the defaults when null.</param>
    /// <param name="options">The providers (from the environment when null) and an optional audit decorator.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A provider setting is invalid.</exception>
    public static async Task<CopilotGuardRuntime> OpenAsync(
        DataFolder data,
        bool seed = true,
        IProgress<IngestionProgress>? progress = null,
        ILoggerFactory? loggerFactory = null,
        ContinuousVerificationSettings? verificationSettings = null,
        CopilotGuardRuntimeOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var providers = options?.Providers ?? ProviderSettings.FromEnvironment();
        providers.Validate();
        (options?.Available ?? AvailableProviders.All).EnsureAllows(providers);
        System.IO.Directory.CreateDirectory(data.Root);
        if (seed)
        {
            CopySamples(data);
        }

        // Everything policy-like, loaded and validated exactly as a live reload does (PolicyReloader).
        var snapshot = await PolicySnapshotLoader.LoadAsync(data, seed, verificationSettings, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        var (labeling, labels, schema, directory) = (snapshot.Labeling, snapshot.Labels, snapshot.Schema, snapshot.Directory!);
        var holder = new PolicySnapshotHolder(snapshot);
        var owned = new OwnedResources();
        IChunkStore? store = null;
        IAuditStore? audit = null;
        IEmbeddingGenerator<string, Embedding<float>>? embedder = null;
        try
        {
            store = ProviderFactory.CreateStore(providers, data, labels, owned);
            audit = ProviderFactory.CreateAudit(providers, data, EcdsaAuditSigner.LoadOrCreate(Path.Combine(data.KeysPath, "audit-checkpoint.pem")), owned);
            embedder = ProviderFactory.CreateEmbedder(providers.Embeddings);
            var queryEmbedder = ProviderFactory.CreateQueryEmbedder(providers.Embeddings, embedder);
            await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
            await audit.InitializeAsync(cancellationToken).ConfigureAwait(false);
            if (seed)
            {
                await SeedAsync(data, providers.Store, labeling, schema, store, embedder, progress, cancellationToken).ConfigureAwait(false);
            }

            if (options?.CheckStoredAttributeTypes ?? true)
            {
                // Stores ingested before attributes were typed hold "true" and "5" as strings: refuse to start.
                if (!await StoredAttributeTypes.EnsureMatchAsync(store, schema, cancellationToken).ConfigureAwait(false))
                {
                    loggerFactory?.CreateLogger<CopilotGuardRuntime>().LogWarning(
                        "The {Store} store cannot list the attribute types it holds, so chunks ingested before attributes were typed cannot be detected; re-ingest its corpora after upgrading.", store.Name);
                }
            }

            var releaser = await CreateReleaserAsync(data, directory, owned, cancellationToken).ConfigureAwait(false);
            var tracked = RequestTrackingAuditLog.Wrap(audit);
            var verification = await ContinuousVerification.OpenAsync(data, holder, store, tracked, verificationSettings, loggerFactory, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            var broker = new RetrievalBroker(
                holder,
                store,
                queryEmbedder,
                options?.DecorateBrokerAudit?.Invoke(tracked) ?? tracked,
                new QueryHasher(data.GetOrCreateSecret("query-hash.key")),
                Options.Create(options?.Broker ?? new RetrievalBrokerOptions()),
                TimeProvider.System,
                loggerFactory?.CreateLogger<RetrievalBroker>(),
                releaser: releaser,
                gates: verification.Gates,
                observers: verification.Observers);
            return new CopilotGuardRuntime(data, providers, store, audit, embedder, queryEmbedder, holder, DevelopmentIssuer.LoadOrCreate(data), broker, owned)
            {
                Verification = verification,
                AuditLog = tracked,
                StoreLabels = labels,
                VerificationSettings = verificationSettings,
                CheckStoredAttributeTypes = options?.CheckStoredAttributeTypes ?? true,
            };
        }
        catch
        {
            await CloseAsync(store, audit, embedder, owned).ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Verification?.Dispose();
        await CloseAsync(Store, Audit, QueryEmbedder, _owned).ConfigureAwait(false);
    }

    /// <summary>Ingests the sample corpus into a store on first use, once per store: the marker is per store, so a
    /// folder seeded for SQLite still seeds a new PostgreSQL store, and a store that already has chunks (e.g. one
    /// another broker instance seeded) is not ingested again. The data-subject names are merged either way.</summary>
    private static async Task SeedAsync(DataFolder data, StoreSettings settings, LabelingPolicy labeling, AttributeSchema schema, IChunkStore store, IEmbeddingGenerator<string, Embedding<float>> embedder, IProgress<IngestionProgress>? progress, CancellationToken cancellationToken)
    {
        var marker = data.GetSeededMarkerPath(settings.Identity);
        if (File.Exists(marker))
        {
            return;
        }

        var labeler = new ChunkLabeler(labeling, EntityAnalyzer.CreateDefault());
        var chunks = (await new CorpusReader(labeling.Taxonomy, schema[AttributeScope.Resource]).ReadAsync(Path.Combine(DataFolder.SamplesPath, "corpus"), cancellationToken).ConfigureAwait(false))
            .Select(labeler.Apply)
            .ToList();
        if (await store.CountAsync(cancellationToken).ConfigureAwait(false) == 0)
        {
            await new Ingestor(store, embedder).IngestAsync(chunks, progress, cancellationToken).ConfigureAwait(false);
        }

        await SubjectNames.MergeIntoFileAsync(data.SubjectNamesPath, SubjectNames.Extract(chunks), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(marker, DateTimeOffset.UtcNow.ToString("O"), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates the field releaser: the anonymizer over the directory's and the data subjects' names and any
    /// custom recognizers, with the data folder's keys.</summary>
    private static async Task<ChunkReleaser> CreateReleaserAsync(DataFolder data, DirectoryFile directory, OwnedResources owned, CancellationToken cancellationToken)
    {
        var names = directory.Principals
            .Where(static p => p.Kind == PrincipalKind.User && p.DisplayName is not null)
            .Select(static p => (p.DisplayName!, EntityTypes.Person, (string?)p.Id))
            .Concat((await SubjectNames.ReadFileAsync(data.SubjectNamesPath, cancellationToken).ConfigureAwait(false)).Select(static n => (n.Name, n.Type, n.SubjectId)));
        IEntityRecognizer[] recognizers = File.Exists(data.RecognizersPath)
            ? [DictionaryRecognizer.Create(names), await RecognizerFile.LoadAsync(data.RecognizersPath, cancellationToken).ConfigureAwait(false)]
            : [DictionaryRecognizer.Create(names)];
        // Pseudonyms survive restarts and are shared by every process on the data folder: encrypted at rest, 24 h sliding expiry.
        var vault = owned.Add(new SqlitePseudonymVault(data.VaultPath, data.GetOrCreateSecret("pseudonym-vault.key"), TimeSpan.FromHours(24)));
        await vault.InitializeAsync(cancellationToken).ConfigureAwait(false);
        var anonymizer = new Anonymizer(
            EntityAnalyzer.CreateDefault(recognizers),
            new AnonymizerKeys(data.GetOrCreateSecret("anonymizer-hash.key"), data.GetOrCreateSecret("anonymizer-encryption.key")),
            vault);
        return new ChunkReleaser(anonymizer, data.GetOrCreateSecret("field-hash.key"));
    }

    /// <summary>Closes the providers, then the resources they share. The query embedder disposes the embedder it wraps.</summary>
    private static async Task CloseAsync(IChunkStore? store, IAuditStore? audit, IEmbeddingGenerator<string, Embedding<float>>? embedder, OwnedResources owned)
    {
        try
        {
            if (audit is not null)
            {
                await audit.DisposeAsync().ConfigureAwait(false);
            }

            switch (store)
            {
                case IAsyncDisposable asyncDisposable:
                    await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }

            embedder?.Dispose();
        }
        finally
        {
            await owned.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static void CopySamples(DataFolder data)
    {
        if (!File.Exists(data.DirectoryPath))
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, "directory.yaml"), data.DirectoryPath);
        }

        if (!File.Exists(data.DestinationsPath))
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, DestinationRegistry.FileName), data.DestinationsPath);
        }

        if (!File.Exists(data.LabelsPath) && !data.IsSeeded)
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, "labels.yaml"), data.LabelsPath);
        }

        // Only into a new folder: a folder seeded before the attribute schema existed keeps running on the derived
        // (open) schema until its owner adds an attributes.yaml.
        if (!File.Exists(data.AttributesPath) && !data.IsSeeded)
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, AttributeSchemaFile.FileName), data.AttributesPath);
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
