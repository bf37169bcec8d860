using CopilotGuard.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Server.Tests.Hosting;

public sealed class ProviderSettingsTests
{
    private const string Postgres = "Host=db.example.com;Port=5433;Database=cg;Username=cg;Password=secret";

    [Fact]
    public void Bind_NothingSet_IsTheEmbeddedDefault()
    {
        var settings = Bind();

        Assert.Equal("sqlite", settings.Store.Name);
        Assert.Equal("sqlite", settings.Store.Identity);
        Assert.Equal("sqlite", settings.Audit.Name);
        Assert.Equal("local", settings.Embeddings.Name);
        Assert.Equal(384, settings.Embeddings.EffectiveDimensions);
        Assert.Equal(0, settings.Embeddings.QueryCacheSize);
    }

    [Fact]
    public void Bind_PostgreSqlStoreAndAudit_AuditDefaultsToTheStoresConnectionString()
    {
        var settings = Bind(("Store:Provider", "PostgreSQL"), ("Store:ConnectionString", Postgres), ("Audit:Provider", "postgresql"));

        Assert.Equal("postgresql", settings.Store.Name);
        Assert.Equal("postgresql", settings.Audit.Name);
        Assert.Equal(Postgres, settings.Audit.EffectiveConnectionString);
        Assert.Matches("^postgresql-[0-9a-f]{16}$", settings.Store.Identity);
        Assert.DoesNotContain("secret", settings.Store.Identity, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_SamePostgreSqlDatabaseOtherSchemaOrPassword_IdentityFollowsTheSchemaOnly()
    {
        var first = Bind(("Store:Provider", "postgresql"), ("Store:ConnectionString", Postgres)).Store.Identity;
        var otherPassword = Bind(("Store:Provider", "postgresql"), ("Store:ConnectionString", Postgres.Replace("secret", "rotated", StringComparison.Ordinal))).Store.Identity;
        var otherSchema = Bind(("Store:Provider", "postgresql"), ("Store:ConnectionString", Postgres), ("Store:Schema", "tenant_b")).Store.Identity;

        Assert.Equal(first, otherPassword);
        Assert.NotEqual(first, otherSchema);
    }

    [Theory]
    [InlineData("Store:Provider", "mysql", "CopilotGuard:Store:Provider 'mysql' is not supported")]
    [InlineData("Audit:Provider", "azure-ai-search", "CopilotGuard:Audit:Provider 'azure-ai-search' is not supported")]
    [InlineData("Embeddings:Provider", "ollama", "CopilotGuard:Embeddings:Provider 'ollama' is not supported")]
    [InlineData("Store:ConnectionString", Postgres, "CopilotGuard:Store:ConnectionString is set but CopilotGuard:Store:Provider is 'sqlite'")]
    [InlineData("Audit:ConnectionString", Postgres, "CopilotGuard:Audit:ConnectionString is set but CopilotGuard:Audit:Provider is 'sqlite'")]
    [InlineData("Audit:Schema", "audit", "CopilotGuard:Audit:Schema is set but CopilotGuard:Audit:Provider is 'sqlite'")]
    [InlineData("Store:RowLevelSecurity", "true", "CopilotGuard:Store:RowLevelSecurity is set but CopilotGuard:Store:Provider is 'sqlite'")]
    [InlineData("Store:Endpoint", "https://x.search.windows.net", "CopilotGuard:Store:Endpoint is set but CopilotGuard:Store:Provider is 'sqlite'")]
    [InlineData("Embeddings:Model", "text-embedding-3-small", "CopilotGuard:Embeddings:Model is set but CopilotGuard:Embeddings:Provider is 'local'")]
    [InlineData("Store:Provder", "postgresql", "Provder")]
    [InlineData("Embeddings:QueryCacheSize", "-1", "CopilotGuard:Embeddings:QueryCacheSize -1 must be between 0 (off)")]
    [InlineData("Embeddings:QueryCacheSize", "many", "CopilotGuard:Embeddings")]
    public void Bind_OneBadSetting_FailsNamingIt(string key, string value, string expected)
    {
        var exception = Assert.Throws<OptionsValidationException>(() => Bind((key, value)));

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_PostgreSqlWithoutConnectionString_ListsEveryProblemAtOnce()
    {
        var exception = Assert.Throws<OptionsValidationException>(() => Bind(
            ("Store:Provider", "postgresql"), ("Audit:Provider", "postgresql"), ("Embeddings:Provider", "openai")));

        Assert.Contains(exception.Failures, f => f.StartsWith("CopilotGuard:Store:ConnectionString is required", StringComparison.Ordinal));
        Assert.Contains(exception.Failures, f => f.StartsWith("CopilotGuard:Embeddings:ApiKey is required", StringComparison.Ordinal));
        Assert.Contains(exception.Failures, f => f.StartsWith("CopilotGuard:Embeddings:Model is required", StringComparison.Ordinal));
    }

    [Fact]
    public void Bind_BadPostgreSqlSchema_FailsNamingTheSetting()
    {
        var exception = Assert.Throws<OptionsValidationException>(() => Bind(("Store:Provider", "postgresql"), ("Store:ConnectionString", Postgres), ("Store:Schema", "Tenant; DROP")));

        Assert.Contains("CopilotGuard:Store:Schema is invalid. Invalid PostgreSQL store options: Schema 'Tenant; DROP'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_PostgreSqlAuditBesideSqliteStore_NeedsItsOwnConnectionString()
    {
        var exception = Assert.Throws<OptionsValidationException>(() => Bind(("Audit:Provider", "postgresql")));
        Assert.Contains("CopilotGuard:Audit:ConnectionString is required", exception.Message, StringComparison.Ordinal);

        var settings = Bind(("Audit:Provider", "postgresql"), ("Audit:ConnectionString", Postgres));
        Assert.Equal("sqlite", settings.Store.Name);
        Assert.Equal(Postgres, settings.Audit.EffectiveConnectionString);

        var badSchema = Assert.Throws<OptionsValidationException>(() => Bind(("Audit:Provider", "postgresql"), ("Audit:ConnectionString", Postgres), ("Audit:Schema", "Audit-Log")));
        Assert.Contains("CopilotGuard:Audit:Schema is invalid. Invalid PostgreSQL audit log options: Schema 'Audit-Log'", badSchema.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=;Database=x", "CopilotGuard:Store:ConnectionString names no Host")]
    [InlineData("Hots=db;Database=x", "CopilotGuard:Store:ConnectionString is not a valid PostgreSQL connection string")]
    public void Bind_BadPostgreSqlConnectionString_FailsNamingTheSetting(string connectionString, string expected)
    {
        var exception = Assert.Throws<OptionsValidationException>(() => Bind(("Store:Provider", "postgresql"), ("Store:ConnectionString", connectionString)));

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_AzureAISearch_NeedsAnHttpsEndpoint_AndFixedDimensionsWithOpenAI()
    {
        var missing = Assert.Throws<OptionsValidationException>(() => Bind(("Store:Provider", "azure-ai-search")));
        Assert.Contains("CopilotGuard:Store:Endpoint is required", missing.Message, StringComparison.Ordinal);

        var plainHttp = Assert.Throws<OptionsValidationException>(() => Bind(("Store:Provider", "azure-ai-search"), ("Store:Endpoint", "http://x.search.windows.net")));
        Assert.Contains("must be an absolute https address", plainHttp.Message, StringComparison.Ordinal);

        var badIndex = Assert.Throws<OptionsValidationException>(() => Bind(("Store:Provider", "azure-ai-search"), ("Store:Endpoint", "https://x.search.windows.net"), ("Store:IndexName", "Bad_Index")));
        Assert.Contains("CopilotGuard:Store:IndexName is invalid. Invalid Azure AI Search store options: IndexName 'Bad_Index'", badIndex.Message, StringComparison.Ordinal);

        var noDimensions = Assert.Throws<OptionsValidationException>(() => Bind(
            ("Store:Provider", "azure-ai-search"), ("Store:Endpoint", "https://x.search.windows.net"),
            ("Embeddings:Provider", "openai"), ("Embeddings:ApiKey", "k"), ("Embeddings:Model", "m")));
        Assert.Contains("CopilotGuard:Embeddings:Dimensions is required when CopilotGuard:Store:Provider is azure-ai-search", noDimensions.Message, StringComparison.Ordinal);

        var settings = Bind(("Store:Provider", "azure-ai-search"), ("Store:Endpoint", "https://x.search.windows.net"), ("Store:IndexName", "chunks"));
        Assert.Matches("^azure-ai-search-[0-9a-f]{16}$", settings.Store.Identity);
        Assert.Null(settings.Store.ApiKey);
    }

    [Fact]
    public void Bind_OpenAIEmbeddings_ReadsEverySetting()
    {
        var settings = Bind(
            ("Embeddings:Provider", "openai"), ("Embeddings:Endpoint", "http://127.0.0.1:11434/v1"), ("Embeddings:ApiKey", "k"),
            ("Embeddings:Model", "nomic-embed-text"), ("Embeddings:Dimensions", "768"), ("Embeddings:QueryCacheSize", "1000"));

        Assert.Equal("openai", settings.Embeddings.Name);
        Assert.Equal(new Uri("http://127.0.0.1:11434/v1"), settings.Embeddings.Endpoint);
        Assert.Equal(768, settings.Embeddings.EffectiveDimensions);
        Assert.Equal(1000, settings.Embeddings.QueryCacheSize);
    }

    [Fact]
    public void Bind_OtherAuditSettings_AreLeftToTheirOwnOwners()
    {
        var settings = Bind(("Audit:RetentionPolicy", "retention.yaml"));

        Assert.Equal("sqlite", settings.Audit.Name);
    }

    [Fact]
    public async Task StartAsync_InvalidProvider_FailsBeforeTheDataFolderIsCreated()
    {
        var data = Path.Combine(Path.GetTempPath(), "copilotguard-bad-provider-" + Guid.NewGuid().ToString("N"));
        await using var app = await CopilotGuardServer.BuildAsync(["--data", data, "--urls", "http://127.0.0.1:0", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true", "--CopilotGuard:Store:Provider=postgresql"]);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("CopilotGuard:Store:ConnectionString is required", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data));
    }

    [Fact]
    public async Task OpenAsync_AzureAISearchUnreachable_FailsInsteadOfFallingBackToSqlite()
    {
        var data = Directory.CreateTempSubdirectory("copilotguard-azure-down-").FullName;
        try
        {
            var providers = Bind(("Store:Provider", "azure-ai-search"), ("Store:Endpoint", "https://127.0.0.1:1"), ("Store:ApiKey", "not-a-key"));

            var exception = await Assert.ThrowsAsync<AggregateException>(() => CopilotGuardRuntime.OpenAsync(new DataFolder(data), options: new CopilotGuardRuntimeOptions { Providers = providers }));

            Assert.All(exception.InnerExceptions, static e => Assert.IsType<Azure.RequestFailedException>(e));

            Assert.False(File.Exists(new DataFolder(data).StorePath));
            Assert.False(new DataFolder(data).IsSeeded);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    private static ProviderSettings Bind(params (string Key, string Value)[] values) =>
        ProviderSettings.Bind(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(static v => new KeyValuePair<string, string?>("CopilotGuard:" + v.Key, v.Value)))
            .Build());
}
