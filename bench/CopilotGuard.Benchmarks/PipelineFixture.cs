using System.Security.Cryptography;
using CopilotGuard.Anonymization;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Identity;
using CopilotGuard.Obligations;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Benchmarks;

/// <summary>A broker wired like the runtime's (sample policy and directory, default anonymizer with the directory
/// dictionary, field-hash key, query hasher), over a given store and audit log, with the deterministic 384-d embedder.</summary>
internal sealed class PipelineFixture : IDisposable
{
    private readonly string? _folder;
    private readonly IDisposable? _auditResource;
    private readonly EcdsaAuditSigner? _signer;

    /// <param name="store">The chunk store.</param>
    /// <param name="audit"><c>memory</c> (serialize + hash chain, no I/O) or <c>sqlite-group</c> (durable SQLite WAL,
    /// synchronous=FULL, group commit up to 512 records) or <c>sqlite-single</c> (one fsync per record).</param>
    /// <param name="entitlements">Who the broker knows; the sample directory when null.</param>
    public PipelineFixture(IChunkStore store, string audit, IEntitlementProvider? entitlements = null)
    {
        IAuditLog log;
        if (audit == "memory")
        {
            log = new ChainOnlyAuditLog();
        }
        else
        {
            _folder = Directory.CreateTempSubdirectory("copilotguard-bench-").FullName;
            _signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(_folder, "audit-checkpoint.pem"));
            var sqlite = new SqliteAuditLog(Path.Combine(_folder, "audit.db"), new SqliteAuditLogOptions { MaxBatchSize = audit == "sqlite-single" ? 1 : 512 }, _signer);
            sqlite.InitializeAsync(CancellationToken.None).GetAwaiter().GetResult();
            (log, _auditResource) = (sqlite, sqlite);
        }

        Audit = log;
        var names = BenchData.Directory.Principals
            .Where(static p => p.Kind == PrincipalKind.User && p.DisplayName is not null)
            .Select(static p => (p.DisplayName!, EntityTypes.Person, (string?)p.Id))
            .ToList();
        var anonymizer = new Anonymizer(
            EntityAnalyzer.CreateDefault(DictionaryRecognizer.Create(names)),
            AnonymizerKeys.CreateRandom(),
            new InMemoryPseudonymVault(RandomNumberGenerator.GetBytes(32), TimeSpan.FromHours(24)));
        Broker = new RetrievalBroker(
            entitlements ?? BenchData.Directory,
            BenchData.Contoso(),
            store,
            new DeterministicEmbedder(384),
            log,
            new QueryHasher(RandomNumberGenerator.GetBytes(32)),
            Options.Create(new RetrievalBrokerOptions()),
            releaser: new ChunkReleaser(anonymizer, RandomNumberGenerator.GetBytes(32)));
    }

    public RetrievalBroker Broker { get; }

    public IAuditLog Audit { get; }

    /// <summary>Ten support tickets of 1 KB for bob's accounts: every one passes bob's residual.</summary>
    public static IReadOnlyList<StoredChunk> TenTicketsForBob() =>
        [.. Enumerable.Range(0, 10).Select(static i => BenchData.Stored(BenchData.SupportChunk(i, i % 2 == 0 ? "contoso-retail" : "fabrikam")))];

    public static RetrievalRequest BobRequest(int top = 10) => new()
    {
        Caller = new CallerIdentity("bob"),
        Query = "End-of-day sync discrepancy at store 207",
        Top = top,
        Purpose = "support",
        Destination = "internal",
    };

    public void Dispose()
    {
        _auditResource?.Dispose();
        _signer?.Dispose();
        if (_folder is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_folder, recursive: true);
        }
    }
}
