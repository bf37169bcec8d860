using CopilotGuard.Connectors.Sqlite;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using CopilotGuard.Typing;
using Microsoft.Extensions.Configuration;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>The server refuses to start on a store ingested before attributes were typed, and starts once the chunks
/// are rewritten with typed values.</summary>
public sealed class StoredAttributeTypesStartupTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-typing-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task OpenAsync_StoreHoldingStringsForADeclaredBoolean_RefusesToStartNamingTheAttribute()
    {
        var folder = new DataFolder(_data);
        foreach (var file in (ReadOnlySpan<string>)["directory.yaml", "labels.yaml"])
        {
            File.Copy(Path.Combine(DataFolder.SamplesPath, file), Path.Combine(_data, file));
        }

        Directory.CreateDirectory(folder.PoliciesPath);
        File.Copy(Path.Combine(DataFolder.SamplesPath, "policies", "contoso.yaml"), Path.Combine(folder.PoliciesPath, "contoso.yaml"));
        await File.WriteAllTextAsync(folder.AttributesPath, (await File.ReadAllTextAsync(Path.Combine(DataFolder.SamplesPath, "attributes.yaml"))).Replace("resource:\n", "resource:\n  restricted: boolean\n", StringComparison.Ordinal));
        await WriteChunkAsync(folder, AttributeValue.FromString("true"));

        var exception = await Assert.ThrowsAsync<StoredAttributeTypeException>(() => OpenAsync(folder));

        var mismatch = Assert.Single(exception.Mismatches);
        Assert.Equal("restricted", mismatch.Name);
        Assert.Contains("resource.restricted (declared boolean in attributes.yaml:", exception.Message, StringComparison.Ordinal);
        Assert.Contains("stored as string", exception.Message, StringComparison.Ordinal);
        Assert.Contains("copilotguard ingest", exception.Message, StringComparison.Ordinal);

        // What re-ingestion does: the same chunk, rewritten with a typed value.
        await WriteChunkAsync(folder, AttributeValue.FromBoolean(true));
        await using var runtime = await OpenAsync(folder);
        Assert.Equal(1, await runtime.Store.CountAsync(CancellationToken.None));
    }

    private static async Task WriteChunkAsync(DataFolder folder, AttributeValue restricted)
    {
        using var store = new SqliteChunkStore(folder.StorePath, LabelTaxonomy.Default);
        await store.InitializeAsync(CancellationToken.None);
        var chunk = new Chunk
        {
            Id = "kb-restricted#0",
            DocumentId = "kb-restricted",
            Source = "kb",
            Label = LabelTaxonomy.Default.Get("General"),
            Version = 1,
            Text = "Break-glass procedure.",
            Attributes = new AttributeSetBuilder().Add("restricted", restricted).Add("owner", "kb-team").Build(),
        };
        await store.UpsertAsync([new StoredChunk(chunk, new float[384])], CancellationToken.None);
    }

    private static Task<CopilotGuardRuntime> OpenAsync(DataFolder folder) =>
        CopilotGuardRuntime.OpenAsync(
            folder,
            seed: false,
            options: new CopilotGuardRuntimeOptions { Providers = ProviderSettings.Bind(new ConfigurationBuilder().Build()) });
}
