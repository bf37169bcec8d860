using System.Collections.Concurrent;
using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;

namespace CopilotGuard.Tests.Identity;

/// <summary>A clock that moves only when told to.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public ManualClock()
        : this(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A principal state store in memory, with a switch that makes it fail.</summary>
internal sealed class InMemoryPrincipalStateStore : IPrincipalStateStore
{
    private readonly ConcurrentDictionary<string, PrincipalSuspension> _suspensions = new(StringComparer.Ordinal);

    public bool Fail { get; set; }

    public int Reads { get; private set; }

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask<PrincipalSuspension?> GetSuspensionAsync(string principalId, CancellationToken cancellationToken)
    {
        Reads++;
        ThrowIfFailing();
        return ValueTask.FromResult(_suspensions.GetValueOrDefault(principalId));
    }

    public Task<IReadOnlyList<PrincipalSuspension>> ListSuspensionsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<PrincipalSuspension>>([.. _suspensions.Values]);

    public Task SuspendAsync(PrincipalSuspension suspension, CancellationToken cancellationToken)
    {
        ThrowIfFailing();
        _suspensions[suspension.PrincipalId] = suspension;
        return Task.CompletedTask;
    }

    public Task<bool> ResumeAsync(string principalId, CancellationToken cancellationToken)
    {
        ThrowIfFailing();
        return Task.FromResult(_suspensions.TryRemove(principalId, out _));
    }

    private void ThrowIfFailing()
    {
        if (Fail)
        {
            throw new IOException("state store down");
        }
    }
}

/// <summary>An entitlement provider whose answers the test sets, counting calls.</summary>
internal sealed class FakeEntitlementProvider : IEntitlementProvider
{
    public Func<string, Principal?> Resolve { get; set; } = static _ => null;

    public bool Fail { get; set; }

    public int Calls { get; private set; }

    public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken)
    {
        Calls++;
        if (Fail)
        {
            throw new EntitlementUnavailableException("source down");
        }

        return ValueTask.FromResult(Resolve(principalId));
    }
}

internal static class People
{
    public static PolicyBundle Policy { get; } = new("test-1", new string('a', 64), ImmutableArray<PolicyRule>.Empty, LabelTaxonomy.Default);

    public static Principal User(string id, string department = "Support", params (string Name, string Value)[] more)
    {
        var builder = new AttributeSetBuilder().Add("id", id).Add("kind", "user").Add("department", department);
        foreach (var (name, value) in more)
        {
            builder.Add(name, value);
        }

        return new Principal(id, PrincipalKind.User, builder.Build());
    }

    public static Principal Agent(string id, params string[] sources)
    {
        var builder = new AttributeSetBuilder().Add("id", id).Add("kind", "agent");
        if (sources.Length > 0)
        {
            builder.AddRange("sources", sources);
        }

        return new Principal(id, PrincipalKind.Agent, builder.Build());
    }
}
