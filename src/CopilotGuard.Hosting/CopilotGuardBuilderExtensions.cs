using CopilotGuard.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses which stores, audit logs and embedders a host lets its configuration select
/// (<c>CopilotGuard:Store:Provider</c>, <c>CopilotGuard:Audit:Provider</c>, <c>CopilotGuard:Embeddings:Provider</c>).</summary>
/// <remarks>A host that registered only <see cref="AddSqliteStore"/> refuses to start when its configuration asks for
/// PostgreSQL, naming the setting, instead of opening a store its operators did not plan for.</remarks>
public static class CopilotGuardBuilderExtensions
{
    /// <summary>Lets the configuration choose the embedded SQLite chunk store in the data folder (the default).</summary>
    public static ICopilotGuardBuilder AddSqliteStore(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Stores.Add(StoreSettings.Sqlite));

    /// <summary>Lets the configuration choose a PostgreSQL (pgvector) chunk store.</summary>
    public static ICopilotGuardBuilder AddPostgreSqlStore(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Stores.Add(StoreSettings.PostgreSql));

    /// <summary>Lets the configuration choose an Azure AI Search index as the chunk store.</summary>
    public static ICopilotGuardBuilder AddAzureAISearchStore(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Stores.Add(StoreSettings.AzureAISearch));

    /// <summary>Lets the configuration choose the embedded SQLite audit log in the data folder (the default).</summary>
    public static ICopilotGuardBuilder AddSqliteAudit(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Audits.Add(AuditSettings.Sqlite));

    /// <summary>Lets the configuration choose a PostgreSQL audit log.</summary>
    public static ICopilotGuardBuilder AddPostgreSqlAudit(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Audits.Add(AuditSettings.PostgreSql));

    /// <summary>Lets the configuration choose the local MiniLM embedder (the default).</summary>
    public static ICopilotGuardBuilder AddLocalEmbeddings(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Embeddings.Add(EmbeddingSettings.Local));

    /// <summary>Lets the configuration choose an OpenAI-compatible embeddings endpoint.</summary>
    public static ICopilotGuardBuilder AddOpenAIEmbeddings(this ICopilotGuardBuilder builder) => Add(builder, static p => p.Embeddings.Add(EmbeddingSettings.OpenAI));

    private static ICopilotGuardBuilder Add(ICopilotGuardBuilder builder, Action<AvailableProviders> add)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Configure(add);
        return builder;
    }
}
