using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using CopilotGuard.Anonymization;
using CopilotGuard.Connectors.Sqlite;

namespace CopilotGuard.Benchmarks;

/// <summary>The SQLite pseudonym vault on the anonymizer's hot path: the mapping read of every anonymized text, and the
/// durable (WAL, synchronous=FULL) numbering of new subjects.</summary>
/// <remarks>Each operation is one vault call, as the anonymizer makes it: <c>GetEntriesAsync</c> once per text, then
/// <c>GetOrAddAsync</c> when the text names subjects the conversation has not seen.</remarks>
[MemoryDiagnoser]
public class VaultBenchmarks
{
    private static readonly PseudonymSubject[] Known =
    [
        new(EntityTypes.Person, "id:jane", "Jane Alice Doe"),
        new(EntityTypes.Person, "id:rjohnson", "Robert Johnson"),
        new(EntityTypes.EmailAddress, "value:jane.doe@contoso.com", "jane.doe@contoso.com"),
    ];

    private string _folder = string.Empty;
    private SqlitePseudonymVault _vault = null!;
    private int _next;

    [GlobalSetup]
    public async Task Setup()
    {
        _folder = Directory.CreateTempSubdirectory("copilotguard-bench-").FullName;
        _vault = new SqlitePseudonymVault(Path.Combine(_folder, "vault.db"), RandomNumberGenerator.GetBytes(32));
        await _vault.InitializeAsync();
        await _vault.GetOrAddAsync("known", Known);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _vault.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>The first read of a conversation the vault has never seen (the first text of every conversation).</summary>
    [Benchmark]
    public ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesNewConversation() => _vault.GetEntriesAsync("never-written");

    /// <summary>The read of a conversation with three pseudonyms (every later text of a conversation).</summary>
    [Benchmark]
    public ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesThreeEntries() => _vault.GetEntriesAsync("known");

    /// <summary>Three new subjects (two types) in a new conversation: numbered and committed (fsynced) in one transaction.</summary>
    [Benchmark]
    public ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddThreeNewSubjects() =>
        _vault.GetOrAddAsync("new-" + Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture), Known);

    /// <summary>Three subjects the conversation already has.</summary>
    [Benchmark]
    public ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddThreeKnownSubjects() => _vault.GetOrAddAsync("known", Known);
}
