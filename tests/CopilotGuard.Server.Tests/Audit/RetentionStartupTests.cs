using CopilotGuard.Policy;
using CopilotGuard.Hosting;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary>A server whose data folder holds an invalid retention file does not start, and says every problem.</summary>
public sealed class RetentionStartupTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-retention-start-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task StartAsync_InvalidRetentionFile_FailsWithEveryProblem()
    {
        await File.WriteAllTextAsync(Path.Combine(_data, "retention.yaml"), "apiVersion: copilotguard/v1\ndefault: 400d\nclasses:\n  - name: hr\n    purposes: [hr]\n    maxAge: 7 years\n    keep: true\n");
        await using var app = await CopilotGuardServer.BuildAsync(["--data", _data, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=None", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true"]);

        var exception = await Assert.ThrowsAsync<PolicyValidationException>(() => app.StartAsync());

        Assert.Contains(exception.Errors, static e => e.Line == 6 && e.Message.Contains("'7 years'", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 7 && e.Message.Contains("unknown field 'keep'", StringComparison.Ordinal));
    }
}
