using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Cli;
using CopilotGuard.Hosting;
using CopilotGuard.Server.Tests.Cli;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary><c>copilotguard audit retention</c> over a real data folder: the dry run writes nothing, the run expires exactly the
/// old record, <c>audit verify</c> still passes and counts it, and <c>audit trace</c> says it expired.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class RetentionCliTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-retention-cli-").FullName;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_data, "retention.yaml"), """
            apiVersion: copilotguard/v1
            default: forever
            classes:
              - name: short-lived
                purposes: [retention-test]
                maxAge: 30d
            """);
        await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(_data), seed: true);
        foreach (var (id, age) in new[] { ("rcpt_old", 31), ("rcpt_recent", 29) })
        {
            await runtime.Audit.AppendAsync(
                new AuditRecord
                {
                    RecordId = id,
                    Kind = AuditRecordKinds.Retrieval,
                    Time = DateTimeOffset.UtcNow.AddDays(-age),
                    SubjectId = "bob",
                    Purpose = "retention-test",
                    PolicyVersion = runtime.Policy.Version,
                    PolicyHash = runtime.Policy.Sha256,
                    Decision = "all",
                },
                CancellationToken.None);
        }

        await runtime.Audit.CheckpointAsync(CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task AuditRetention_DryRunThenRun_ExpiresOnlyTheOldRecordAndTheLogVerifies()
    {
        var (exit, output, error) = await RunAsync("audit", "retention", "--dry-run", "--json", "--data", _data);
        Assert.True(exit == 0, error);
        using (var dryRun = JsonDocument.Parse(output))
        {
            Assert.True(dryRun.RootElement.GetProperty("dryRun").GetBoolean());
            Assert.Equal(1, dryRun.RootElement.GetProperty("summary").GetProperty("expired").GetInt64());
        }

        (exit, output, error) = await RunAsync("audit", "trace", "rcpt_old", "--json", "--data", _data);
        Assert.True(exit == 0, error);

        (exit, output, error) = await RunAsync("audit", "retention", "--json", "--data", _data);
        Assert.True(exit == 0, error);
        using (var run = JsonDocument.Parse(output))
        {
            Assert.Equal(1, run.RootElement.GetProperty("summary").GetProperty("expired").GetInt64());
            Assert.StartsWith("ret_", run.RootElement.GetProperty("record").GetProperty("record").GetProperty("recordId").GetString(), StringComparison.Ordinal);
        }

        (exit, output, error) = await RunAsync("audit", "verify", "--json", "--data", _data);
        Assert.True(exit == 0, output + error);
        using (var verify = JsonDocument.Parse(output))
        {
            Assert.Equal(1, verify.RootElement.GetProperty("expired").GetInt64());
        }

        (exit, _, error) = await RunAsync("audit", "trace", "rcpt_old", "--data", _data);
        Assert.Equal(4, exit);
        Assert.Contains("expired under retention", error, StringComparison.Ordinal);
        (exit, _, error) = await RunAsync("audit", "trace", "rcpt_recent", "--json", "--data", _data);
        Assert.True(exit == 0, error);
    }

    [Fact]
    public async Task AuditRetention_InvalidFile_ExitsWithEveryProblemAndWritesNothing()
    {
        await File.WriteAllTextAsync(Path.Combine(_data, "retention.yaml"), "apiVersion: copilotguard/v1\ndefault: 6m\nclasses:\n  - name: x\n    maxAge: 1y\n");

        var (exit, _, error) = await RunAsync("audit", "retention", "--data", _data);

        Assert.Equal(2, exit);
        Assert.Contains("retention.yaml:2", error, StringComparison.Ordinal);
        Assert.Contains("retention.yaml:4", error, StringComparison.Ordinal);
        (exit, var output, _) = await RunAsync("audit", "verify", "--json", "--data", _data);
        Assert.Equal(0, exit);
        using var verify = JsonDocument.Parse(output);
        Assert.Equal(0, verify.RootElement.GetProperty("expired").GetInt64());
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var (originalOut, originalError) = (Console.Out, Console.Error);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var exit = await CliApp.Build().Parse(args).InvokeAsync();
            return (exit, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }
}
