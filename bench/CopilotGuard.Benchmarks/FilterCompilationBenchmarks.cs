using Azure;
using Azure.Search.Documents.Indexes;
using BenchmarkDotNet.Attributes;
using CopilotGuard.Connectors.AzureAISearch;
using CopilotGuard.Connectors.PostgreSql;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using Npgsql;

namespace CopilotGuard.Benchmarks;

/// <summary>Compilation of a residual to each store's dialect, through each store's public <c>DescribeFilter</c>
/// (the compilers are internal to their connectors): compile plus rendering with parameter values, which is also what
/// a SQLite search does for every query (the rendered filter goes into the audit record). No store is contacted.</summary>
[MemoryDiagnoser]
public class FilterCompilationBenchmarks
{
    private FilterNode _memory = null!;
    private FilterNode _sqlitePushed = null!;
    private FilterNode _postgresPushed = null!;
    private FilterNode _odataPushed = null!;
    private SqliteChunkStore _sqlite = null!;
    private PostgreSqlChunkStore _postgres = null!;
    private NpgsqlDataSource _dataSource = null!;
    private AzureAISearchChunkStore _search = null!;

    /// <summary>How many accounts bob holds (the residual carries them as one <c>in</c> list).</summary>
    [Params(10, 5000)]
    public int Accounts { get; set; }

    /// <summary><c>user</c>: bob alone; <c>agent</c>: ticket-agent for bob (a conjunction of both residuals).</summary>
    [Params("user", "agent")]
    public string Caller { get; set; } = "user";

    [GlobalSetup]
    public void Setup()
    {
        var bundle = BenchData.Contoso();
        var bob = BenchData.WithEntitlements(BenchData.Person("bob"), Accounts);
        var caller = Caller == "user" ? new CallerPrincipals(bob) : new CallerPrincipals(bob, BenchData.Person("ticket-agent"));
        var residual = bundle.Decide(caller, BenchData.Internal);
        _sqlite = new SqliteChunkStore(Path.Combine(Path.GetTempPath(), "copilotguard-bench-never-opened.db"), BenchData.Labels);
        _dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Database=never-opened");
        _postgres = new PostgreSqlChunkStore(_dataSource, BenchData.Labels);
        _search = new AzureAISearchChunkStore(new SearchIndexClient(new Uri("https://never-contacted.search.windows.net"), new AzureKeyCredential("bench")), BenchData.Labels);
        _memory = Filters.Split(residual, FilterCapabilities.All).Pushed;
        _sqlitePushed = Filters.Split(residual, _sqlite.Capabilities).Pushed;
        _postgresPushed = Filters.Split(residual, _postgres.Capabilities).Pushed;
        _odataPushed = Filters.Split(residual, _search.Capabilities).Pushed;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sqlite.Dispose();
        _postgres.Dispose();
        _dataSource.Dispose();
    }

    /// <summary>The in-memory dialect: the canonical text form (what the in-memory store reports as its native filter).</summary>
    [Benchmark(Baseline = true)]
    public string InMemory() => FilterFormatter.Format(_memory);

    [Benchmark]
    public string Sqlite() => _sqlite.DescribeFilter(_sqlitePushed);

    [Benchmark]
    public string PostgreSql() => _postgres.DescribeFilter(_postgresPushed);

    [Benchmark]
    public string OData() => _search.DescribeFilter(_odataPushed);
}
