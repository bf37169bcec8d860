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
internal sealed class PipelineFixture : IAsyncDisposable
{
    private readonly string? _folder;
    private readonly IAsyncDisposable? _auditResource;
    private readonly EcdsaAuditSigner? _signer;

    private PipelineFixture(IChunkStore store, IAuditLog audit, IEntitlementProvider? entitlements, string? folder, IAsyncDisposable? auditResource, EcdsaAuditSigner? signer)
    {
        (_folder, _auditResource, _signer, Audit) = (folder, auditResource, signer, audit);
        Broker = new RetrievalBroker(
            entitlements ?? BenchData.Directory,
            BenchData.Contoso(),
            store,
            new DeterministicEmbedder(384),
            audit,
            new QueryHasher(RandomNumberGenerator.GetBytes(32)),
            Options.Create(new RetrievalBrokerOptions()),
            releaser: new ChunkReleaser(BenchData.SampleAnonymizer(), RandomNumberGenerator.GetBytes(32)),
            destinations: CopilotGuard.Testing.TestDestinations.Standard(BenchData.Labels));
    }

    /// <summary>Creates the fixture.</summary>
    /// <param name="store">The chunk store.</param>
    /// <param name="audit"><c>memory</c> (serialize + hash chain, no I/O) or <c>sqlite-group</c> (durable SQLite WAL,
    /// synchronous=FULL, group commit up to 512 records) or <c>sqlite-single</c> (one fsync per record).</param>
    /// <param name="entitlements">Who the broker knows; the sample directory when null.</param>
    public static async Task<PipelineFixture> CreateAsync(IChunkStore store, string audit, IEntitlementProvider? entitlements = null)
    {
        if (audit == "memory")
        {
            return new PipelineFixture(store, new ChainOnlyAuditLog(), entitlements, null, null, null);
        }

        var folder = Directory.CreateTempSubdirectory("copilotguard-bench-").FullName;
        var signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(folder, "audit-checkpoint.pem"));
        var sqlite = new SqliteAuditLog(Path.Combine(folder, "audit.db"), new SqliteAuditLogOptions { MaxBatchSize = audit == "sqlite-single" ? 1 : 512 }, signer);
        await sqlite.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
        return new PipelineFixture(store, sqlite, entitlements, folder, sqlite, signer);
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

    public async ValueTask DisposeAsync()
    {
        if (_auditResource is not null)
        {
            await _auditResource.DisposeAsync().ConfigureAwait(false);
        }

        _signer?.Dispose();
        if (_folder is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_folder, recursive: true);
        }
    }
}
