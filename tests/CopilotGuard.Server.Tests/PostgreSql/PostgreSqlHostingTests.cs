using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CopilotGuard.Connectors.PostgreSql;
using CopilotGuard.Hosting;
using CopilotGuard.Server.Tests.Hosting;
using Microsoft.Extensions.Configuration;

namespace CopilotGuard.Server.Tests.PostgreSql;

/// <summary>What changes when the store and audit log are PostgreSQL: what the runtime opens, per-store seeding, and
/// the console views that only the embedded SQLite files can serve.</summary>
[Collection(PostgreSqlServerCollection.Name)]
public sealed class PostgreSqlHostingTests(PostgreSqlServerFixture server)
{
    [StoreFact]
    public void Runtime_PostgreSqlProviders_OpenPostgreSqlAndLeaveNoSqliteFiles()
    {
        Assert.IsType<PostgreSqlChunkStore>(server.Runtime.Store);
        Assert.IsType<PostgreSqlAuditLog>(server.Runtime.Audit);
        Assert.False(File.Exists(server.Runtime.Data.StorePath));
        Assert.False(File.Exists(server.Runtime.Data.AuditPath));
        Assert.False(File.Exists(server.Runtime.Data.SeededMarkerPath));
        Assert.True(File.Exists(server.Runtime.Data.GetSeededMarkerPath(server.Runtime.Providers.Store.Identity)));
    }

    [StoreTheory]
    [InlineData("/v1/console/labels", "CopilotGuard:Store:Provider is 'postgresql'")]
    [InlineData("/v1/console/documents", "CopilotGuard:Store:Provider is 'postgresql'")]
    [InlineData("/v1/console/activity", "CopilotGuard:Audit:Provider is 'postgresql'")]
    [InlineData("/v1/console/events", "CopilotGuard:Audit:Provider is 'postgresql'")]
    [InlineData("/v1/console/integrity", "CopilotGuard:Audit:Provider is 'postgresql'")]
    [InlineData("/v1/console/accesses?document=kb-vpn-setup", "CopilotGuard:Audit:Provider is 'postgresql'")]
    [InlineData("/v1/console/accesses.csv?subject=p-1001", "CopilotGuard:Audit:Provider is 'postgresql'")]
    public async Task ConsoleView_NeedingTheSqliteFiles_Is501NamingTheSetting(string path, string expected)
    {
        using var response = await GetAsync("cora", path);

        Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(501, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(expected, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [StoreFact]
    public async Task ConsoleAuditView_CallerWithoutComplianceRole_IsStillForbidden()
    {
        using var response = await GetAsync("bob", "/v1/console/activity");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [StoreFact]
    public async Task AuditApiAndConsoleVerify_OnPostgreSql_StillWork()
    {
        await server.RetrieveAsync("bob", "VPN setup", top: 2);

        using var verify = await GetAsync("cora", "/v1/audit/verify");
        Assert.Equal(HttpStatusCode.OK, verify.StatusCode);
        using var body = JsonDocument.Parse(await verify.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("ok").GetBoolean());
        Assert.True(body.RootElement.GetProperty("records").GetInt64() > 0);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/console/verify");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token("cora"));
        using var console = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, console.StatusCode);
    }

    [StoreFact]
    public async Task CliVerb_ProvidersFromTheEnvironment_ReadsThePostgreSqlLogTheServerWrites()
    {
        await server.RetrieveAsync("carol", "spring campaign", top: 2);
        var before = (await server.Runtime.Audit.VerifyAsync(CancellationToken.None)).Records;

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])[Path.Combine(AppContext.BaseDirectory, "CopilotGuard.Cli.dll"), "audit", "verify", "--json", "--data", server.DataPath])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["CopilotGuard__Store__Provider"] = "postgresql";
        start.Environment["CopilotGuard__Store__ConnectionString"] = server.ConnectionString;
        start.Environment["CopilotGuard__Audit__Provider"] = "postgresql";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await error}");
        using var verify = JsonDocument.Parse(await output);
        Assert.True(verify.RootElement.GetProperty("ok").GetBoolean());
        Assert.True(verify.RootElement.GetProperty("records").GetInt64() >= before, $"the CLI read {verify.RootElement.GetProperty("records")} records, the server's log has {before}");
        Assert.False(File.Exists(server.Runtime.Data.AuditPath));
    }

    [StoreFact]
    public async Task OpenAsync_StoreThatAlreadyHasChunks_IsNotSeededAgain_ButTheNewFolderIsReady()
    {
        var data = Directory.CreateTempSubdirectory("copilotguard-pg-second-").FullName;
        await using var endpoint = await FakeOpenAIEmbeddings.StartAsync();
        try
        {
            // The fixture's server seeded this store (schema copilotguard) with MiniLM; a second instance with another
            // data folder and another embedder must find the chunks and embed nothing.
            await using (var runtime = await OpenAsync(data, endpoint, schema: null))
            {
                Assert.Equal(await server.Runtime.Store.CountAsync(CancellationToken.None), await runtime.Store.CountAsync(CancellationToken.None));
                Assert.Equal(0, endpoint.TextsEmbedded);
                Assert.True(File.Exists(runtime.Data.GetSeededMarkerPath(runtime.Providers.Store.Identity)));
                Assert.True(File.Exists(runtime.Data.SubjectNamesPath));
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    [StoreFact]
    public async Task OpenAsync_FolderSeededForSqlite_StillSeedsANewPostgreSqlStore_Once()
    {
        var data = Directory.CreateTempSubdirectory("copilotguard-pg-reseed-").FullName;
        await using var endpoint = await FakeOpenAIEmbeddings.StartAsync();
        try
        {
            long sqliteChunks;
            await using (var sqlite = await OpenAsync(data, endpoint, schema: null, postgres: false))
            {
                sqliteChunks = await sqlite.Store.CountAsync(CancellationToken.None);
            }

            Assert.True(File.Exists(new DataFolder(data).SeededMarkerPath));
            Assert.Equal(sqliteChunks, endpoint.TextsEmbedded);

            await using (var postgres = await OpenAsync(data, endpoint, schema: "reseed_store"))
            {
                Assert.Equal(sqliteChunks, await postgres.Store.CountAsync(CancellationToken.None));
                Assert.Equal(2 * sqliteChunks, endpoint.TextsEmbedded);
            }

            await using (var reopened = await OpenAsync(data, endpoint, schema: "reseed_store"))
            {
                Assert.Equal(sqliteChunks, await reopened.Store.CountAsync(CancellationToken.None));
                Assert.Equal(2 * sqliteChunks, endpoint.TextsEmbedded);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    private Task<CopilotGuardRuntime> OpenAsync(string data, FakeOpenAIEmbeddings endpoint, string? schema, bool postgres = true)
    {
        var values = new Dictionary<string, string?>
        {
            ["CopilotGuard:Embeddings:Provider"] = "openai",
            ["CopilotGuard:Embeddings:Endpoint"] = endpoint.Endpoint.ToString(),
            ["CopilotGuard:Embeddings:ApiKey"] = "test-key",
            ["CopilotGuard:Embeddings:Model"] = "test-embed",
        };
        if (postgres)
        {
            values["CopilotGuard:Store:Provider"] = "postgresql";
            values["CopilotGuard:Store:ConnectionString"] = server.ConnectionString;
            values["CopilotGuard:Store:Schema"] = schema;
        }

        return CopilotGuardRuntime.OpenAsync(
            new DataFolder(data),
            options: new CopilotGuardRuntimeOptions { Providers = ProviderSettings.Bind(new ConfigurationBuilder().AddInMemoryCollection(values).Build()) });
    }

    private Task<HttpResponseMessage> GetAsync(string user, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token(user));
        return server.Client.SendAsync(request);
    }
}
