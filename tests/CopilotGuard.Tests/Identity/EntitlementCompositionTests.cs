using CopilotGuard.Identity;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Tests.Identity;

public sealed class EntitlementCompositionTests
{
    private readonly ManualClock _clock = new();
    private readonly FakeEntitlementProvider _source = new() { Resolve = static id => People.User(id) };

    private CachingEntitlementProvider Cache(string policyVersion = "v1") => new(
        _source,
        policyVersion,
        Options.Create(new EntitlementCacheOptions { TimeToLive = TimeSpan.FromMinutes(5), MaxStaleness = TimeSpan.FromMinutes(15) }),
        _clock);

    [Fact]
    public async Task ResolveAsync_WithinTimeToLive_ServesTheCachedPrincipal()
    {
        var cache = Cache();
        await cache.ResolveAsync("bob", CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(4));
        await cache.ResolveAsync("bob", CancellationToken.None);
        Assert.Equal(1, _source.Calls);
    }

    [Fact]
    public async Task ResolveAsync_SourceDownWithinMaxStaleness_ServesStaleThenFailsClosed()
    {
        var cache = Cache();
        await cache.ResolveAsync("bob", CancellationToken.None);
        _source.Fail = true;
        _clock.Advance(TimeSpan.FromMinutes(10));

        Assert.NotNull(await cache.ResolveAsync("bob", CancellationToken.None));
        _clock.Advance(TimeSpan.FromMinutes(6));
        await Assert.ThrowsAsync<EntitlementUnavailableException>(async () => await cache.ResolveAsync("bob", CancellationToken.None));
        Assert.Equal(3, _source.Calls);
    }

    [Fact]
    public async Task ResolveAsync_SourceDownAndNothingCached_FailsClosed()
    {
        _source.Fail = true;
        await Assert.ThrowsAsync<EntitlementUnavailableException>(async () => await Cache().ResolveAsync("bob", CancellationToken.None));
    }

    [Fact]
    public async Task ResolveAsync_NewPolicyVersion_DoesNotReuseEntries()
    {
        var v1 = Cache("v1");
        await v1.ResolveAsync("bob", CancellationToken.None);
        var v2 = Cache("v2");
        await v2.ResolveAsync("bob", CancellationToken.None);
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task ResolveAsync_AuthoritativeSourceDoesNotKnowThePrincipal_IsUnknown()
    {
        var directory = new FakeEntitlementProvider { Resolve = static id => People.User(id, "Support") };
        var graph = new FakeEntitlementProvider { Resolve = static _ => null };
        var composite = new CompositeEntitlementProvider([new(directory, EntitlementSourceRole.Authoritative), new(graph, EntitlementSourceRole.Authoritative)]);

        Assert.Null(await composite.ResolveAsync("deleted-user", CancellationToken.None));
    }

    [Fact]
    public async Task ResolveAsync_SupplementalSource_OverridesSameNamedAttributes()
    {
        var directory = new FakeEntitlementProvider { Resolve = static id => People.User(id, "Support", ("title", "Engineer")) };
        var graph = new FakeEntitlementProvider { Resolve = static id => People.User(id, "Escalations") };
        var composite = new CompositeEntitlementProvider([new(directory, EntitlementSourceRole.Authoritative), new(graph, EntitlementSourceRole.Supplemental, static id => id != "ticket-agent")]);

        var bob = await composite.ResolveAsync("bob", CancellationToken.None);

        Assert.NotNull(bob);
        Assert.True(bob.Attributes.TryGet("department", out var department));
        Assert.Equal("Escalations", department[0].Text);
        Assert.True(bob.Attributes.TryGet("title", out _));
        await composite.ResolveAsync("ticket-agent", CancellationToken.None);
        Assert.Equal(1, graph.Calls);
    }
}
