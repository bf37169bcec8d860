using BenchmarkDotNet.Attributes;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Benchmarks;

/// <summary>The whole broker pipeline for one retrieval of 10 chunks of 1 KB (resolve, decide, split, embed, search,
/// post-filter, obligations, anonymization, audit append), with the store and embedder replaced by in-memory ones so
/// the broker's own overhead is what is measured.</summary>
[MemoryDiagnoser]
public class BrokerPipelineBenchmarks
{
    private PipelineFixture _fixture = null!;
    private RetrievalRequest _request = null!;

    /// <summary><c>memory</c>: audit serialized and hash-chained, no I/O; <c>sqlite-group</c>: durable SQLite
    /// audit with group commit (one caller, so every operation waits for its own fsync).</summary>
    [Params("memory", "sqlite-group")]
    public string Audit { get; set; } = "memory";

    [GlobalSetup]
    public async Task Setup()
    {
        _fixture = await PipelineFixture.CreateAsync(new FixedChunkStore(PipelineFixture.TenTicketsForBob()), Audit);
        _request = PipelineFixture.BobRequest();
        var result = await _fixture.Broker.RetrieveAsync(_request, CancellationToken.None);
        if (result.Chunks.Length != 10)
        {
            throw new InvalidOperationException($"expected 10 chunks, got {result.Chunks.Length}");
        }
    }

    [GlobalCleanup]
    public Task Cleanup() => _fixture.DisposeAsync().AsTask();

    [Benchmark]
    public Task<RetrievalResult> Retrieve10Chunks() => _fixture.Broker.RetrieveAsync(_request, CancellationToken.None);
}
