using Microsoft.Extensions.Options;

namespace CopilotGuard.Hosting;

/// <summary>The stores, audit logs and embedders a host registered (<c>AddSqliteStore()</c>, ...), which its
/// configuration may choose from.</summary>
public sealed class AvailableProviders
{
    /// <summary>Gets every provider this package ships: what the CLI and the stand-alone server offer.</summary>
    public static AvailableProviders All { get; } = new()
    {
        Stores = { StoreSettings.Sqlite, StoreSettings.PostgreSql, StoreSettings.AzureAISearch },
        Audits = { AuditSettings.Sqlite, AuditSettings.PostgreSql },
        Embeddings = { EmbeddingSettings.Local, EmbeddingSettings.OpenAI },
    };

    /// <summary>Gets the chunk stores (<c>CopilotGuard:Store:Provider</c>).</summary>
    public ISet<string> Stores { get; } = new SortedSet<string>(StringComparer.Ordinal);

    /// <summary>Gets the audit logs (<c>CopilotGuard:Audit:Provider</c>).</summary>
    public ISet<string> Audits { get; } = new SortedSet<string>(StringComparer.Ordinal);

    /// <summary>Gets the embedders (<c>CopilotGuard:Embeddings:Provider</c>).</summary>
    public ISet<string> Embeddings { get; } = new SortedSet<string>(StringComparer.Ordinal);

    /// <summary>Checks that validated settings choose only registered providers.</summary>
    /// <exception cref="OptionsValidationException">A setting chooses a provider the host did not register; the message
    /// names the setting and the method that registers it.</exception>
    public void EnsureAllows(ProviderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var failures = new List<string>();
        Check(Stores, settings.Store.Name, ProviderSettings.StoreSection, "Store", failures);
        Check(Audits, settings.Audit.Name, ProviderSettings.AuditSection, "Audit", failures);
        Check(Embeddings, settings.Embeddings.Name, ProviderSettings.EmbeddingsSection, "Embeddings", failures);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException("CopilotGuard", typeof(AvailableProviders), failures);
        }
    }

    private static void Check(ISet<string> registered, string chosen, string section, string kind, List<string> failures)
    {
        if (!registered.Contains(chosen))
        {
            failures.Add(registered.Count == 0
                ? $"{section}:Provider is '{chosen}', but the host registered no {kind.ToLowerInvariant()} provider; add one to AddCopilotGuard(...) (e.g. {Method(kind, chosen)})."
                : $"{section}:Provider '{chosen}' is not registered in this host, which offers {string.Join(", ", registered)}; add {Method(kind, chosen)} to AddCopilotGuard(...) or choose one of those.");
        }
    }

    private static string Method(string kind, string provider) => (kind, provider) switch
    {
        ("Store", StoreSettings.Sqlite) => "AddSqliteStore()",
        ("Store", StoreSettings.PostgreSql) => "AddPostgreSqlStore()",
        ("Store", _) => "AddAzureAISearchStore()",
        ("Audit", AuditSettings.Sqlite) => "AddSqliteAudit()",
        ("Audit", _) => "AddPostgreSqlAudit()",
        (_, EmbeddingSettings.Local) => "AddLocalEmbeddings()",
        _ => "AddOpenAIEmbeddings()",
    };
}
