using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Connectors.AzureAISearch;
using CopilotGuard.Connectors.LocalEmbeddings;
using CopilotGuard.Connectors.PostgreSql;
using Microsoft.Extensions.Options;
using Npgsql;

namespace CopilotGuard.Hosting;

/// <summary>Which chunk store, audit log and embedder the runtime opens, bound from <c>CopilotGuard:Store</c>,
/// <c>CopilotGuard:Audit</c> and <c>CopilotGuard:Embeddings</c>.</summary>
/// <remarks>The defaults are the embedded ones (SQLite store and audit log in the data folder, the local MiniLM
/// embedder). A setting that does not fit the chosen provider is an error, never ignored: a host that was meant to
/// talk to PostgreSQL must not quietly serve from SQLite.</remarks>
public sealed class ProviderSettings
{
    /// <summary>The configuration section of the store settings.</summary>
    public const string StoreSection = "CopilotGuard:Store";

    /// <summary>The configuration section of the audit settings.</summary>
    public const string AuditSection = "CopilotGuard:Audit";

    /// <summary>The configuration section of the embedding settings.</summary>
    public const string EmbeddingsSection = "CopilotGuard:Embeddings";

    /// <summary>Gets or sets the chunk store settings.</summary>
    public StoreSettings Store { get; set; } = new();

    /// <summary>Gets or sets the audit log settings.</summary>
    public AuditSettings Audit { get; set; } = new();

    /// <summary>Gets or sets the embedder settings.</summary>
    public EmbeddingSettings Embeddings { get; set; } = new();

    /// <summary>Binds the settings from configuration and validates them, reporting every problem at once.</summary>
    /// <exception cref="OptionsValidationException">A setting is invalid; each failure names its setting.</exception>
    public static ProviderSettings Bind(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var settings = new ProviderSettings();
        var failures = new List<string>();
        // Unknown keys under Store and Embeddings are errors, so a misspelt setting never falls back to a default.
        // CopilotGuard:Audit is shared with other audit settings (retention, ...), so only its own keys are read there.
        Bind(configuration.GetSection(StoreSection), settings.Store, strict: true, failures);
        Bind(configuration.GetSection(AuditSection), settings.Audit, strict: false, failures);
        Bind(configuration.GetSection(EmbeddingsSection), settings.Embeddings, strict: true, failures);
        settings.Validate(failures);
        return settings;
    }

    /// <summary>Binds the settings from the process environment (<c>CopilotGuard__Store__Provider</c>, ...), as the
    /// CLI verbs other than <c>serve</c> see them.</summary>
    /// <exception cref="OptionsValidationException">A setting is invalid.</exception>
    public static ProviderSettings FromEnvironment() => Bind(new ConfigurationBuilder().AddEnvironmentVariables().Build());

    /// <summary>Validates the settings, reporting every problem at once.</summary>
    /// <exception cref="OptionsValidationException">A setting is invalid; each failure names its setting.</exception>
    public void Validate() => Validate([]);

    private void Validate(List<string> failures)
    {
        Store.Validate(failures);
        Audit.Validate(failures, Store);
        Embeddings.Validate(failures, Store);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException("CopilotGuard", typeof(ProviderSettings), failures);
        }
    }

    /// <summary>Binds one section, turning a value of the wrong type into a failure that names the setting.</summary>
    private static void Bind(IConfigurationSection section, object target, bool strict, List<string> failures)
    {
        try
        {
            section.Bind(target, options => options.ErrorOnUnknownConfiguration = strict);
        }
        catch (InvalidOperationException exception)
        {
            failures.Add($"{section.Path}: {exception.Message}");
        }
    }

    /// <summary>Reads one provider name, case-insensitively, from the names allowed.</summary>
    internal static string? Normalize(string? provider, string setting, IReadOnlyList<string> allowed, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(provider))
        {
            return allowed[0];
        }

        var match = allowed.FirstOrDefault(name => string.Equals(name, provider.Trim(), StringComparison.OrdinalIgnoreCase));
        if (match is null)
        {
            failures.Add($"{setting} '{provider}' is not supported; use {string.Join(", ", allowed.SkipLast(1))} or {allowed[^1]}.");
        }

        return match;
    }

    /// <summary>Adds a failure for a setting that the chosen provider does not use.</summary>
    internal static void Unused(string? value, string setting, string providerSetting, string provider, List<string> failures)
    {
        if (!string.IsNullOrEmpty(value))
        {
            failures.Add($"{setting} is set but {providerSetting} is '{provider}', which does not use it; set the provider or remove the setting.");
        }
    }

    /// <summary>Parses a PostgreSQL connection string, adding a failure that names the setting when it is invalid.</summary>
    internal static NpgsqlConnectionStringBuilder? ParsePostgreSql(string? connectionString, string setting, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            failures.Add($"{setting} is required for PostgreSQL (e.g. Host=db.example.com;Database=copilotguard;Username=copilotguard;Password=...).");
            return null;
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (string.IsNullOrEmpty(builder.Host))
            {
                failures.Add($"{setting} names no Host.");
                return null;
            }

            return builder;
        }
        catch (ArgumentException exception)
        {
            // The message names the bad keyword, never the password.
            failures.Add($"{setting} is not a valid PostgreSQL connection string: {exception.Message}");
            return null;
        }
    }

    /// <summary>Hashes a store's identity into a short file-name-safe key.</summary>
    internal static string ShortHash(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
}

/// <summary>The chunk store settings (<c>CopilotGuard:Store</c>).</summary>
public sealed class StoreSettings
{
    /// <summary>The embedded SQLite store in the data folder.</summary>
    public const string Sqlite = "sqlite";

    /// <summary>A PostgreSQL database.</summary>
    public const string PostgreSql = "postgresql";

    /// <summary>An Azure AI Search index.</summary>
    public const string AzureAISearch = "azure-ai-search";

    private static readonly string[] Providers = [Sqlite, PostgreSql, AzureAISearch];

    /// <summary>Gets or sets the provider: <c>sqlite</c>, <c>postgresql</c> or <c>azure-ai-search</c>. The default is <c>sqlite</c>.</summary>
    public string? Provider { get; set; }

    /// <summary>Gets or sets the PostgreSQL connection string (required for <c>postgresql</c>).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the PostgreSQL schema that holds the store's tables. The default is <c>copilotguard</c>.</summary>
    public string? Schema { get; set; }

    /// <summary>Gets or sets whether PostgreSQL row-level security guards the chunk table as a second line of defence
    /// (the deployment installs the policy; see the PostgreSQL connector's README). The default is off.</summary>
    public bool? RowLevelSecurity { get; set; }

    /// <summary>Gets or sets the Azure AI Search endpoint, e.g. <c>https://NAME.search.windows.net</c> (required for <c>azure-ai-search</c>).</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Gets or sets the Azure AI Search index name. The default is <c>copilotguard-chunks</c>.</summary>
    public string? IndexName { get; set; }

    /// <summary>Gets or sets the Azure AI Search admin key; when empty, Microsoft Entra ID is used through <c>DefaultAzureCredential</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Gets the validated provider name (lowercase).</summary>
    public string Name { get; private set; } = Sqlite;

    /// <summary>Gets a stable identity of the store (no secrets), which names its seeding marker in the data folder.</summary>
    public string Identity { get; private set; } = Sqlite;

    internal void Validate(List<string> failures)
    {
        const string provider = ProviderSettings.StoreSection + ":Provider";
        Name = ProviderSettings.Normalize(Provider, provider, Providers, failures) ?? Name;
        var connectionString = ProviderSettings.StoreSection + ":ConnectionString";
        var schema = ProviderSettings.StoreSection + ":Schema";
        var rowLevelSecurity = ProviderSettings.StoreSection + ":RowLevelSecurity";
        var endpoint = ProviderSettings.StoreSection + ":Endpoint";
        var index = ProviderSettings.StoreSection + ":IndexName";
        var key = ProviderSettings.StoreSection + ":ApiKey";
        if (Name != PostgreSql)
        {
            ProviderSettings.Unused(ConnectionString, connectionString, provider, Name, failures);
            ProviderSettings.Unused(Schema, schema, provider, Name, failures);
            ProviderSettings.Unused(RowLevelSecurity?.ToString(), rowLevelSecurity, provider, Name, failures);
        }

        if (Name != AzureAISearch)
        {
            ProviderSettings.Unused(Endpoint?.OriginalString, endpoint, provider, Name, failures);
            ProviderSettings.Unused(IndexName, index, provider, Name, failures);
            ProviderSettings.Unused(ApiKey, key, provider, Name, failures);
        }

        switch (Name)
        {
            case PostgreSql:
                if (ProviderSettings.ParsePostgreSql(ConnectionString, connectionString, failures) is { } builder)
                {
                    Identity = string.Create(CultureInfo.InvariantCulture, $"{PostgreSql}-{ProviderSettings.ShortHash($"{builder.Host}:{builder.Port}/{builder.Database}/{SchemaOrDefault}")}");
                }

                if (Schema is not null)
                {
                    try
                    {
                        new PostgreSqlChunkStoreOptions { Schema = Schema }.Validate();
                    }
                    catch (ArgumentException exception)
                    {
                        failures.Add($"{schema} is invalid. {exception.Message}");
                    }
                }

                break;
            case AzureAISearch:
                if (Endpoint is null)
                {
                    failures.Add($"{endpoint} is required for Azure AI Search (e.g. https://NAME.search.windows.net).");
                }
                else if (!Endpoint.IsAbsoluteUri || Endpoint.Scheme != Uri.UriSchemeHttps)
                {
                    failures.Add($"{endpoint} '{Endpoint}' must be an absolute https address.");
                }
                else
                {
                    Identity = $"{AzureAISearch}-{ProviderSettings.ShortHash($"{Endpoint.AbsoluteUri}|{IndexNameOrDefault}")}";
                }

                if (IndexName is not null)
                {
                    try
                    {
                        new AzureAISearchChunkStoreOptions { IndexName = IndexName }.Validate();
                    }
                    catch (ArgumentException exception)
                    {
                        failures.Add($"{index} is invalid. {exception.Message}");
                    }
                }

                break;
        }
    }

    /// <summary>Gets the PostgreSQL schema, or its default.</summary>
    internal string SchemaOrDefault => Schema ?? new PostgreSqlChunkStoreOptions().Schema;

    /// <summary>Gets the Azure AI Search index name, or its default.</summary>
    internal string IndexNameOrDefault => IndexName ?? new AzureAISearchChunkStoreOptions().IndexName;
}

/// <summary>The audit log settings (<c>CopilotGuard:Audit</c>).</summary>
public sealed class AuditSettings
{
    /// <summary>The embedded SQLite audit log in the data folder.</summary>
    public const string Sqlite = "sqlite";

    /// <summary>A PostgreSQL database.</summary>
    public const string PostgreSql = "postgresql";

    private static readonly string[] Providers = [Sqlite, PostgreSql];

    /// <summary>Gets or sets the provider: <c>sqlite</c> or <c>postgresql</c>. The default is <c>sqlite</c>.</summary>
    public string? Provider { get; set; }

    /// <summary>Gets or sets the PostgreSQL connection string. The default, when the store is PostgreSQL too, is the store's.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the PostgreSQL schema of the log's tables. The default is <c>copilotguard</c>.</summary>
    public string? Schema { get; set; }

    /// <summary>Gets the validated provider name (lowercase).</summary>
    public string Name { get; private set; } = Sqlite;

    /// <summary>Gets the connection string in effect for <c>postgresql</c> (this setting's, or the store's).</summary>
    public string? EffectiveConnectionString { get; private set; }

    internal void Validate(List<string> failures, StoreSettings store)
    {
        const string provider = ProviderSettings.AuditSection + ":Provider";
        const string connectionString = ProviderSettings.AuditSection + ":ConnectionString";
        const string schema = ProviderSettings.AuditSection + ":Schema";
        Name = ProviderSettings.Normalize(Provider, provider, Providers, failures) ?? Name;
        if (Name != PostgreSql)
        {
            ProviderSettings.Unused(ConnectionString, connectionString, provider, Name, failures);
            ProviderSettings.Unused(Schema, schema, provider, Name, failures);
            return;
        }

        try
        {
            PostgreSqlOptions.Validate();
        }
        catch (ArgumentException exception)
        {
            failures.Add($"{schema} is invalid. {exception.Message}");
        }

        EffectiveConnectionString = string.IsNullOrWhiteSpace(ConnectionString) && store.Name == StoreSettings.PostgreSql ? store.ConnectionString : ConnectionString;
        if (string.IsNullOrWhiteSpace(EffectiveConnectionString))
        {
            failures.Add($"{connectionString} is required for a PostgreSQL audit log when {ProviderSettings.StoreSection}:Provider is not postgresql.");
            return;
        }

        _ = ProviderSettings.ParsePostgreSql(EffectiveConnectionString, connectionString, failures);
    }

    /// <summary>Gets the options of the PostgreSQL log (its schema, or the default).</summary>
    internal PostgreSqlAuditLogOptions PostgreSqlOptions => Schema is null ? new() : new() { Schema = Schema };
}

/// <summary>The embedder settings (<c>CopilotGuard:Embeddings</c>).</summary>
public sealed class EmbeddingSettings
{
    /// <summary>The local MiniLM model shipped in NuGet (384 dimensions).</summary>
    public const string Local = "local";

    /// <summary>An OpenAI-compatible embeddings endpoint.</summary>
    public const string OpenAI = "openai";

    /// <summary>The dimensions of the local MiniLM model.</summary>
    public const int LocalDimensions = MiniLmEmbeddingGenerator.Dimensions;

    /// <summary>The most query embeddings the cache may hold.</summary>
    public const int MaxQueryCacheSize = 10_000_000;

    private static readonly string[] Providers = [Local, OpenAI];

    /// <summary>Gets or sets the provider: <c>local</c> or <c>openai</c>. The default is <c>local</c>.</summary>
    public string? Provider { get; set; }

    /// <summary>Gets or sets the OpenAI-compatible endpoint. The default is OpenAI's own (<c>https://api.openai.com/v1</c>).</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Gets or sets the API key of the endpoint (required for <c>openai</c>).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Gets or sets the embedding model, e.g. <c>text-embedding-3-small</c> (required for <c>openai</c>).</summary>
    public string? Model { get; set; }

    /// <summary>Gets or sets the dimensions asked of the model; when empty the model's own. Required with Azure AI Search,
    /// whose index fixes the vector size.</summary>
    public int? Dimensions { get; set; }

    /// <summary>Gets or sets how many query embeddings are cached in memory, keyed by query text; 0 turns the cache off.
    /// The default is 0.</summary>
    public int QueryCacheSize { get; set; }

    /// <summary>Gets the validated provider name (lowercase).</summary>
    public string Name { get; private set; } = Local;

    /// <summary>Gets the vector size the embedder produces, when known (always for <c>local</c>).</summary>
    public int? EffectiveDimensions => Name == Local ? LocalDimensions : Dimensions;

    internal void Validate(List<string> failures, StoreSettings store)
    {
        const string provider = ProviderSettings.EmbeddingsSection + ":Provider";
        const string endpoint = ProviderSettings.EmbeddingsSection + ":Endpoint";
        const string key = ProviderSettings.EmbeddingsSection + ":ApiKey";
        const string model = ProviderSettings.EmbeddingsSection + ":Model";
        const string dimensions = ProviderSettings.EmbeddingsSection + ":Dimensions";
        Name = ProviderSettings.Normalize(Provider, provider, Providers, failures) ?? Name;
        if (QueryCacheSize is < 0 or > MaxQueryCacheSize)
        {
            failures.Add($"{ProviderSettings.EmbeddingsSection}:QueryCacheSize {QueryCacheSize} must be between 0 (off) and {MaxQueryCacheSize}.");
        }

        if (Name == Local)
        {
            ProviderSettings.Unused(Endpoint?.OriginalString, endpoint, provider, Name, failures);
            ProviderSettings.Unused(ApiKey, key, provider, Name, failures);
            ProviderSettings.Unused(Model, model, provider, Name, failures);
            ProviderSettings.Unused(Dimensions?.ToString(CultureInfo.InvariantCulture), dimensions, provider, Name, failures);
            return;
        }

        if (Endpoint is not null && (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttps && Endpoint.Scheme != Uri.UriSchemeHttp)))
        {
            failures.Add($"{endpoint} '{Endpoint}' must be an absolute http or https address.");
        }

        if (string.IsNullOrWhiteSpace(ApiKey))
        {
            failures.Add($"{key} is required for an OpenAI-compatible embedder.");
        }

        if (string.IsNullOrWhiteSpace(Model))
        {
            failures.Add($"{model} is required for an OpenAI-compatible embedder (e.g. text-embedding-3-small).");
        }

        if (Dimensions is < 2 or > 4096)
        {
            failures.Add($"{dimensions} {Dimensions} must be between 2 and 4096.");
        }
        else if (Dimensions is null && store.Name == StoreSettings.AzureAISearch)
        {
            failures.Add($"{dimensions} is required when {ProviderSettings.StoreSection}:Provider is azure-ai-search: the index's vector field has a fixed size.");
        }
    }
}
