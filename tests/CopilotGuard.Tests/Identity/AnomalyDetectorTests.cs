using System.Collections.Immutable;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Identity;

public sealed class AnomalyDetectorTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Observe_ColdStartBurstOfHighlyConfidential_EscalatesToHigh()
    {
        var detector = new AnomalyDetector(new AnomalyOptions());
        var severities = new List<AnomalySeverity>();
        for (var i = 0; i < 10; i++)
        {
            severities.AddRange(detector.Observe(Observation("mallory", "department:Finance", Start.AddMinutes(i), 50, "Highly Confidential", "payroll", $"r{i}")).Select(static f => f.Severity));
        }

        Assert.Contains(AnomalySeverity.Medium, severities);
        Assert.Equal(AnomalySeverity.High, severities.Max());
    }

    [Fact]
    public void Observe_OwnBaselineAfterLearning_FlagsOnlyTheSpike()
    {
        var detector = new AnomalyDetector(new AnomalyOptions());
        for (var hour = 0; hour < 10; hour++)
        {
            for (var request = 0; request < 5; request++)
            {
                Assert.Empty(detector.Observe(Observation("bob", "department:Support", Start.AddHours(hour).AddMinutes(request), 5, "General", "kb", $"h{hour}r{request}")));
            }
        }

        Assert.Empty(detector.Observe(Observation("bob", "department:Support", Start.AddHours(10), 25, "General", "kb", "normal")));
        var findings = detector.Observe(Observation("bob", "department:Support", Start.AddHours(11), 200, "Highly Confidential", "kb", "spike"));

        var worst = findings.MaxBy(static f => f.Severity)!;
        Assert.Equal(AnomalySeverity.High, worst.Severity);
        Assert.Equal("own", worst.Baseline);
    }

    [Fact]
    public void Observe_NewSourceAfterLearning_IsAFirstSeenSourceFinding()
    {
        var detector = new AnomalyDetector(new AnomalyOptions { MinimumVolume = 1000 });
        for (var hour = 0; hour < 9; hour++)
        {
            detector.Observe(Observation("bob", "department:Support", Start.AddHours(hour), 5, "General", "kb", $"h{hour}"));
        }

        var finding = Assert.Single(detector.Observe(Observation("bob", "department:Support", Start.AddHours(9), 1, "Confidential", "payroll", "new")));

        Assert.Equal(("first-seen-source", AnomalySeverity.Low), (finding.Metric, finding.Severity));
        Assert.Contains("payroll", finding.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Observe_PrincipalStillLearning_IsComparedWithItsDepartment()
    {
        var detector = new AnomalyDetector(new AnomalyOptions());
        foreach (var peer in (string[])["hr1", "hr2", "hr3"])
        {
            for (var hour = 0; hour < 4; hour++)
            {
                detector.Observe(Observation(peer, "department:HR", Start.AddHours(hour), 25, "General", "hr", $"{peer}{hour}"));
            }
        }

        detector.Observe(Observation("hr1", "department:HR", Start.AddHours(5), 1, "General", "hr", "close"));
        var findings = detector.Observe(Observation("newcomer", "department:HR", Start.AddHours(5), 100, "General", "hr", "newcomer"));

        Assert.Contains(findings, static f => f.Baseline == "peer:department:HR" && f.Metric == "chunks" && f.Severity >= AnomalySeverity.Low);
        Assert.Empty(new AnomalyDetector(new AnomalyOptions()).Observe(Observation("newcomer", "department:HR", Start, 100, "General", "hr", "alone")));
    }

    [Fact]
    public void Validate_ThresholdsOutOfOrder_Fails()
    {
        var result = new AnomalyOptionsValidator().Validate(null, new AnomalyOptions { LowThreshold = 5, MediumThreshold = 4, Alpha = 0 });
        Assert.Equal(2, result.Failures!.Count());
    }

    [Fact]
    public async Task OnRecordedAsync_HighAnomaly_AlertsAndSuspendsThroughTheKillSwitch()
    {
        var (responder, store, audit) = CreateResponder(new AnomalyOptions
        {
            Responses = new Dictionary<AnomalySeverity, IList<AnomalyResponse>> { [AnomalySeverity.High] = [AnomalyResponse.Alert, AnomalyResponse.Suspend] },
        });
        var mallory = new CallerPrincipals(People.User("mallory", "Finance"));
        for (var i = 0; i < 10; i++)
        {
            await responder.OnRecordedAsync(RateLimiterTests.Record("mallory", "Highly Confidential", 50, Start, $"r{i}"), mallory, CancellationToken.None);
        }

        var suspension = await store.GetSuspensionAsync("mallory", CancellationToken.None);
        Assert.NotNull(suspension);
        Assert.Equal(AnomalyResponder.SystemActor, suspension.SuspendedBy);
        Assert.Contains(audit.Entries, static e => e.Record.Kind == AnomalyResponder.AlertKind && e.Record.Decision == "high");
        Assert.Contains(audit.Entries, static e => e.Record.Kind == KillSwitch.SuspendKind && e.Record.Target == "principal:mallory");
    }

    [Fact]
    public async Task CheckAsync_AfterThrottleAndNarrowPurposeResponses_RefusesUntilTheyExpire()
    {
        var clock = new ManualClock(Start);
        var options = new AnomalyOptions
        {
            Responses = new Dictionary<AnomalySeverity, IList<AnomalyResponse>>
            {
                [AnomalySeverity.Low] = [AnomalyResponse.RequireNarrowerPurpose],
                [AnomalySeverity.Medium] = [AnomalyResponse.Throttle],
                [AnomalySeverity.High] = [AnomalyResponse.Throttle],
            },
        };
        var (responder, _, _) = CreateResponder(options, clock);
        var erin = new CallerPrincipals(People.User("erin", "Finance"));
        await responder.OnRecordedAsync(RateLimiterTests.Record("erin", "Highly Confidential", 150, Start, "a"), erin, CancellationToken.None);

        var narrow = await Assert.ThrowsAsync<GuardException>(async () => await responder.CheckAsync(erin, new AccessRequest("retrieve", null, "internal"), CancellationToken.None));
        Assert.Equal(GuardErrorKind.Forbidden, narrow.Kind);
        await responder.CheckAsync(erin, new AccessRequest("retrieve", "fraud-case-4411", "internal"), CancellationToken.None);

        for (var i = 0; i < 4; i++)
        {
            await responder.OnRecordedAsync(RateLimiterTests.Record("erin", "Highly Confidential", 50, Start, $"b{i}"), erin, CancellationToken.None);
        }

        var throttled = await Assert.ThrowsAsync<GuardException>(async () => await responder.CheckAsync(erin, new AccessRequest("retrieve", "fraud-case-4411", "internal"), CancellationToken.None));
        Assert.Equal((GuardErrorKind.RateLimited, TimeSpan.FromMinutes(15)), (throttled.Kind, throttled.RetryAfter));
        clock.Advance(TimeSpan.FromHours(2));
        await responder.CheckAsync(erin, new AccessRequest("retrieve", null, "internal"), CancellationToken.None);
    }

    [Fact]
    public async Task OnRecordedAsync_AlertCannotBeWritten_StillThrottles()
    {
        var (responder, _, audit) = CreateResponder(new AnomalyOptions(), new ManualClock(Start));
        var mallory = new CallerPrincipals(People.User("mallory", "Finance"));
        audit.Fail = true;

        for (var i = 0; i < 10; i++)
        {
            try
            {
                await responder.OnRecordedAsync(RateLimiterTests.Record("mallory", "Highly Confidential", 50, Start, $"r{i}"), mallory, CancellationToken.None);
            }
            catch (IOException)
            {
                // The audit log is down; the broker logs observer failures and goes on.
            }
        }

        var throttled = await Assert.ThrowsAsync<GuardException>(async () => await responder.CheckAsync(mallory, new AccessRequest("retrieve", "x", "internal"), CancellationToken.None));
        Assert.Equal(GuardErrorKind.RateLimited, throttled.Kind);
    }

    private static (AnomalyResponder Responder, InMemoryPrincipalStateStore Store, InMemoryAuditLog Audit) CreateResponder(AnomalyOptions options, TimeProvider? clock = null)
    {
        var store = new InMemoryPrincipalStateStore();
        var audit = new InMemoryAuditLog();
        var responder = new AnomalyResponder(new AnomalyDetector(options), new KillSwitch(store, audit, People.Policy, clock), audit, People.Policy, time: clock);
        return (responder, store, audit);
    }

    private static AnomalyObservation Observation(string principal, string peer, DateTimeOffset time, int chunks, string label, string source, string documentPrefix) =>
        new(time, principal, peer, [.. Enumerable.Range(0, chunks).Select(i => ($"{documentPrefix}-{i}", label, (string?)source))]);
}
