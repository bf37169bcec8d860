using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Identity;

public sealed class KillSwitchTests
{
    private readonly InMemoryPrincipalStateStore _store = new();
    private readonly InMemoryAuditLog _audit = new();

    [Fact]
    public async Task SuspendAsync_Agent_AuditsThenStopsItAloneAndActingForAUser()
    {
        var killSwitch = new KillSwitch(_store, _audit, People.Policy, new ManualClock());
        var gate = new SuspensionGate(_store);
        var bob = People.User("bob");
        var agent = People.Agent("ticket-agent", "kb");

        var (suspension, receipt) = await killSwitch.SuspendAsync("ticket-agent", "compromised prompt", "sam", CancellationToken.None);

        var record = Assert.Single(_audit.Entries).Record;
        Assert.Equal((KillSwitch.SuspendKind, "sam", "principal:ticket-agent", receipt), (record.Kind, record.SubjectId, record.Target, record.RecordId));
        Assert.Equal("compromised prompt", suspension.Reason);
        var delegated = await Assert.ThrowsAsync<GuardException>(async () => await gate.CheckAsync(new CallerPrincipals(bob, agent), new AccessRequest("retrieve", null, "internal"), CancellationToken.None));
        Assert.Equal(GuardErrorKind.Forbidden, delegated.Kind);
        Assert.Contains("compromised prompt", delegated.Message, StringComparison.Ordinal);
        await gate.CheckAsync(new CallerPrincipals(bob), new AccessRequest("retrieve", null, "internal"), CancellationToken.None);
    }

    [Fact]
    public async Task ResumeAsync_Suspended_LiftsItAndAudits()
    {
        var killSwitch = new KillSwitch(_store, _audit, People.Policy);
        await killSwitch.SuspendAsync("carol", null, "sam", CancellationToken.None);

        var (was, _) = await killSwitch.ResumeAsync("carol", "sam", CancellationToken.None);

        Assert.True(was);
        Assert.Null(await _store.GetSuspensionAsync("carol", CancellationToken.None));
        Assert.Equal([KillSwitch.SuspendKind, KillSwitch.ResumeKind], _audit.Entries.Select(static e => e.Record.Kind));
    }

    [Fact]
    public async Task SuspendAsync_AuditFails_StateUnchanged()
    {
        var killSwitch = new KillSwitch(_store, _audit, People.Policy);
        _audit.Fail = true;

        var exception = await Assert.ThrowsAsync<GuardException>(() => killSwitch.SuspendAsync("carol", null, "sam", CancellationToken.None));

        Assert.Equal(GuardErrorKind.AuditUnavailable, exception.Kind);
        Assert.Null(await _store.GetSuspensionAsync("carol", CancellationToken.None));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\u0000b")]
    public async Task SuspendAsync_InvalidId_IsInvalidRequest(string id)
    {
        var killSwitch = new KillSwitch(_store, _audit, People.Policy);
        var exception = await Assert.ThrowsAsync<GuardException>(() => killSwitch.SuspendAsync(id, null, "sam", CancellationToken.None));
        Assert.Equal(GuardErrorKind.InvalidRequest, exception.Kind);
        Assert.Empty(_audit.Entries);
    }

    [Fact]
    public async Task SuspensionGate_StoreUnreadable_FailsClosed()
    {
        _store.Fail = true;
        var exception = await Assert.ThrowsAsync<GuardException>(async () =>
            await new SuspensionGate(_store).CheckAsync(new CallerPrincipals(People.User("bob")), new AccessRequest("retrieve", null, "internal"), CancellationToken.None));
        Assert.Equal(GuardErrorKind.EntitlementsUnavailable, exception.Kind);
    }
}
