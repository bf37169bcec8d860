using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.PostgreSql.Tests;

/// <summary>Runs the shared filter conformance suite against a real PostgreSQL.</summary>
/// <remarks>The inherited tests cannot be skipped from here (xunit 2 has no dynamic skip): without PostgreSQL
/// installed they fail with <see cref="PostgresServer.SkipReason"/> as the message.</remarks>
[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlFilterConformanceTests(PostgresServer server) : FilterConformanceTests
{
    protected override Task<IChunkStore> CreateStoreAsync() =>
        Task.FromResult<IChunkStore>(new PostgreSqlChunkStore(server.DataSource, LabelTaxonomy.Default, new PostgreSqlChunkStoreOptions { Schema = server.NewSchema() }));
}

[Collection(PostgresCollection.Name)]
public sealed class PostgreSqlDifferentialTests(PostgresServer server)
{
    [PostgresFact]
    public async Task Broker_OnPostgreSql_RandomPoliciesCallersAndChunks_ReturnsExactlyWhatTheOracleAllows()
    {
        // 12 worlds x 250 cases: 3,000 retrievals against the real PostgreSQL engine, hostile values (U+0000 included).
        var failure = await DifferentialHarness.RunAsync(
            world => Task.FromResult<IChunkStore>(new PostgreSqlChunkStore(server.DataSource, LabelTaxonomy.Default, new PostgreSqlChunkStoreOptions { Schema = server.NewSchema() })),
            seed: 515151,
            worlds: 12,
            casesPerWorld: 250);
        Assert.True(failure is null, failure);
    }
}
