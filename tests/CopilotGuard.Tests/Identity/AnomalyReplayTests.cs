using CopilotGuard.Audit;
using CopilotGuard.Identity;

namespace CopilotGuard.Tests.Identity;

public sealed class AnomalyReplayTests
{
    [Fact]
    public async Task ReplayAsync_PastBurst_ReportsTheFindingAndItsResponsesWithoutActing()
    {
        var start = new DateTimeOffset(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);
        var records = new List<AuditRecord>();
        for (var i = 0; i < 10; i++)
        {
            records.Add(RateLimiterTests.Record("paul", "Highly Confidential", 50, start.AddMinutes(i), $"p{i}"));
        }

        records.Add(RateLimiterTests.Record("carol", "General", 3, start) with { Kind = "policy-explain" });
        var directory = new FakeEntitlementProvider { Resolve = static id => People.User(id, "Finance") };

        var findings = new List<ReplayedFinding>();
        await foreach (var finding in AnomalyReplay.ReplayAsync(records.ToAsyncEnumerable(), new AnomalyOptions(), directory, static (_, _) => ValueTask.FromResult<string?>("payroll")))
        {
            findings.Add(finding);
        }

        var worst = findings.MaxBy(static f => f.Finding.Severity)!;
        Assert.Equal(AnomalySeverity.High, worst.Finding.Severity);
        Assert.Equal([AnomalyResponse.Alert, AnomalyResponse.Throttle], worst.Responses);
        Assert.All(findings, static f => Assert.Equal("paul", f.Finding.PrincipalId));
    }
}
