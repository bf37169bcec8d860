using System.ClientModel;
using Azure;
using Azure.Identity;
using Azure.Search.Documents.Indexes;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.AzureAISearch;
using CopilotGuard.Connectors.LocalEmbeddings;
using CopilotGuard.Connectors.PostgreSql;
using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using Microsoft.Extensions.AI;
using Npgsql;
using OpenAI;
using OpenAI.Embeddings;

namespace CopilotGuard.Hosting;

/// <summary>Creates the store, audit log and embedder that validated <see cref="ProviderSettings"/> name.</summary>
/// <remarks>PostgreSQL data sources are shared by connection string and owned by the <see cref="OwnedResources"/>
/// the caller passes in, so the runtime closes them after the store and the log.</remarks>
internal static class ProviderFactory
{
    /// <summary>Creates the chunk store (not yet initialized).</summary>
    public static IChunkStore CreateStore(ProviderSettings providers, DataFolder data, LabelTaxonomy labels, OwnedResources owned) =>
        providers.Store.Name switch
        {
            StoreSettings.Sqlite => new SqliteChunkStore(data.StorePath, labels),
            StoreSettings.PostgreSql => new PostgreSqlChunkStore(
                owned.DataSource(providers.Store.ConnectionString!),
                labels,
                new PostgreSqlChunkStoreOptions { Schema = providers.Store.SchemaOrDefault, RowLevelSecurity = providers.Store.RowLevelSecurity == true }),
            StoreSettings.AzureAISearch => new AzureAISearchChunkStore(
                providers.Store.ApiKey is { Length: > 0 } key
                    ? new SearchIndexClient(providers.Store.Endpoint, new AzureKeyCredential(key))
                    : new SearchIndexClient(providers.Store.Endpoint, new DefaultAzureCredential()),
                labels,
                new AzureAISearchChunkStoreOptions
                {
                    IndexName = providers.Store.IndexNameOrDefault,
                    Dimensions = providers.Embeddings.EffectiveDimensions ?? EmbeddingSettings.LocalDimensions,
                }),
            var other => throw new InvalidOperationException($"{ProviderSettings.StoreSection}:Provider '{other}' has no factory."),
        };

    /// <summary>Creates the audit log (not yet initialized), signing checkpoints with the data folder's key.</summary>
    public static IAuditStore CreateAudit(ProviderSettings providers, DataFolder data, IAuditSigner signer, OwnedResources owned) =>
        providers.Audit.Name switch
        {
            AuditSettings.Sqlite => new SqliteAuditLog(data.AuditPath, new SqliteAuditLogOptions(), signer),
            AuditSettings.PostgreSql => new PostgreSqlAuditLog(owned.DataSource(providers.Audit.EffectiveConnectionString!), providers.Audit.PostgreSqlOptions, signer),
            var other => throw new InvalidOperationException($"{ProviderSettings.AuditSection}:Provider '{other}' has no factory."),
        };

    /// <summary>Creates the embedder that ingestion uses.</summary>
    public static IEmbeddingGenerator<string, Embedding<float>> CreateEmbedder(EmbeddingSettings settings) =>
        settings.Name switch
        {
            EmbeddingSettings.Local => new MiniLmEmbeddingGenerator(),
            EmbeddingSettings.OpenAI => new EmbeddingClient(
                    settings.Model!,
                    new ApiKeyCredential(settings.ApiKey!),
                    new OpenAIClientOptions { Endpoint = settings.Endpoint })
                .AsIEmbeddingGenerator(settings.Dimensions),
            var other => throw new InvalidOperationException($"{ProviderSettings.EmbeddingsSection}:Provider '{other}' has no factory."),
        };

    /// <summary>Puts the query cache in front of an embedder when <see cref="EmbeddingSettings.QueryCacheSize"/> is above 0.</summary>
    public static IEmbeddingGenerator<string, Embedding<float>> CreateQueryEmbedder(EmbeddingSettings settings, IEmbeddingGenerator<string, Embedding<float>> embedder) =>
        settings.QueryCacheSize > 0 ? new CachingQueryEmbeddingGenerator(embedder, settings.QueryCacheSize) : embedder;
}

/// <summary>Resources the runtime opened for its providers and closes last: PostgreSQL data sources, one per connection string.</summary>
internal sealed class OwnedResources : IAsyncDisposable
{
    private readonly Dictionary<string, NpgsqlDataSource> _dataSources = new(StringComparer.Ordinal);
    private readonly List<IAsyncDisposable> _others = [];

    /// <summary>Takes ownership of a resource the runtime created; it is disposed with the others, last added first.</summary>
    public T Add<T>(T resource)
        where T : IAsyncDisposable
    {
        _others.Add(resource);
        return resource;
    }

    /// <summary>Gets the data source of a connection string, creating it on first use.</summary>
    public NpgsqlDataSource DataSource(string connectionString)
    {
        if (!_dataSources.TryGetValue(connectionString, out var source))
        {
            source = NpgsqlDataSource.Create(connectionString);
            _dataSources.Add(connectionString, source);
        }

        return source;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        for (var i = _others.Count - 1; i >= 0; i--)
        {
            await _others[i].DisposeAsync().ConfigureAwait(false);
        }

        _others.Clear();
        foreach (var source in _dataSources.Values)
        {
            await source.DisposeAsync().ConfigureAwait(false);
        }

        _dataSources.Clear();
    }
}
