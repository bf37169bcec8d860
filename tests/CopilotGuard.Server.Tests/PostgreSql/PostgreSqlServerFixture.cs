using CopilotGuard.Connectors.PostgreSql.Tests;

namespace CopilotGuard.Server.Tests.PostgreSql;

/// <summary>The same server with its store and audit log in a throwaway PostgreSQL cluster, selected by configuration
/// exactly as an operator would (<c>--CopilotGuard:Store:Provider=postgresql</c>, ...).</summary>
public sealed class PostgreSqlServerFixture : StoreServerFixture
{
    private readonly PostgresServer _cluster = new();

    public override string StoreName => "postgresql";

    /// <summary>Gets the cluster's connection string.</summary>
    public string ConnectionString => _cluster.ConnectionString;

    protected override string? SkipReason => PostgresServer.SkipReason;

    protected override async Task<string[]> StartProvidersAsync()
    {
        await _cluster.InitializeAsync();
        return
        [
            "--CopilotGuard:Store:Provider=postgresql",
            $"--CopilotGuard:Store:ConnectionString={_cluster.ConnectionString}",
            "--CopilotGuard:Audit:Provider=postgresql",
        ];
    }

    protected override Task StopProvidersAsync() => _cluster.DisposeAsync();
}

/// <summary>Shares one cluster and one seeded server across the PostgreSQL end-to-end classes.</summary>
[CollectionDefinition(Name)]
public sealed class PostgreSqlServerCollection : ICollectionFixture<PostgreSqlServerFixture>
{
    public const string Name = "server-postgresql";
}
