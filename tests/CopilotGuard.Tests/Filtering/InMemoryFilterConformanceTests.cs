using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Filtering;

/// <summary>Runs the store filter conformance suite against the in-memory dialect (the shared evaluator).</summary>
public sealed class InMemoryFilterConformanceTests : FilterConformanceTests
{
    protected override Task<IChunkStore> CreateStoreAsync() => Task.FromResult<IChunkStore>(new InMemoryChunkStore());
}
