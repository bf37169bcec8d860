using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Tests.Identity;

public sealed class RateLimiterTests
{
    private static readonly AccessRequest Request = new("retrieve", null, "internal");
    private readonly ManualClock _clock = new();

    private RateLimiter Create(int requests = 3, double weight = 100, int agentRequests = 5) => new(
        Options.Create(new RateLimitOptions
        {
            Window = TimeSpan.FromMinutes(1),
            Principal = new() { RequestsPerWindow = requests, ChunkWeightPerWindow = weight },
            Agent = new() { RequestsPerWindow = agentRequests, ChunkWeightPerWindow = weight },
        }),
        _clock);

    [Fact]
    public async Task CheckAsync_OverRequestLimit_IsRateLimitedUntilTheWindowEnds()
    {
        var limiter = Create(requests: 3);
        var bob = new CallerPrincipals(People.User("bob"));
        for (var i = 0; i < 3; i++)
        {
            await limiter.CheckAsync(bob, Request, CancellationToken.None);
        }

        _clock.Advance(TimeSpan.FromSeconds(20));
        var exception = await Assert.ThrowsAsync<GuardException>(async () => await limiter.CheckAsync(bob, Request, CancellationToken.None));

        Assert.Equal(GuardErrorKind.RateLimited, exception.Kind);
        Assert.Equal(TimeSpan.FromSeconds(40), exception.RetryAfter);
        await limiter.CheckAsync(new CallerPrincipals(People.User("carol")), Request, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(40));
        await limiter.CheckAsync(bob, Request, CancellationToken.None);
    }

    [Fact]
    public async Task OnRecordedAsync_HighlyConfidentialChunks_WeighMoreThanPublicOnes()
    {
        var limiter = Create(requests: 100, weight: 10);
        var alice = new CallerPrincipals(People.User("alice"));
        var carol = new CallerPrincipals(People.User("carol"));
        await limiter.OnRecordedAsync(Record("alice", "Highly Confidential", 3), alice, CancellationToken.None);
        await limiter.OnRecordedAsync(Record("carol", "Public", 3), carol, CancellationToken.None);

        var exception = await Assert.ThrowsAsync<GuardException>(async () => await limiter.CheckAsync(alice, Request, CancellationToken.None));

        Assert.Contains("label-weighted volume", exception.Message, StringComparison.Ordinal);
        await limiter.CheckAsync(carol, Request, CancellationToken.None);
    }

    [Fact]
    public async Task CheckAsync_AgentActingForManyUsers_CountsAgainstTheAgent()
    {
        var limiter = Create(requests: 100, agentRequests: 2);
        var agent = People.Agent("ticket-agent", "kb");
        await limiter.CheckAsync(new CallerPrincipals(People.User("bob"), agent), Request, CancellationToken.None);
        await limiter.CheckAsync(new CallerPrincipals(People.User("carol"), agent), Request, CancellationToken.None);

        var exception = await Assert.ThrowsAsync<GuardException>(async () =>
            await limiter.CheckAsync(new CallerPrincipals(People.User("dana"), agent), Request, CancellationToken.None));

        Assert.Contains("Agent 'ticket-agent'", exception.Message, StringComparison.Ordinal);
        await limiter.CheckAsync(new CallerPrincipals(People.User("dana")), Request, CancellationToken.None);
    }

    [Fact]
    public void Validate_BadOptions_ReportsEveryProblem()
    {
        var result = new RateLimitOptionsValidator().Validate(null, new RateLimitOptions
        {
            Window = TimeSpan.Zero,
            Principal = new() { RequestsPerWindow = 0, ChunkWeightPerWindow = double.NaN },
            LabelWeights = new Dictionary<string, double> { ["Public"] = -1 },
        });

        Assert.True(result.Failed);
        Assert.Equal(4, result.Failures!.Count());
    }

    internal static AuditRecord Record(string subject, string label, int chunks, DateTimeOffset? time = null, string documentPrefix = "doc") => new()
    {
        RecordId = "rcpt_" + Guid.NewGuid().ToString("N"),
        Kind = "retrieval",
        Time = time ?? DateTimeOffset.UnixEpoch,
        SubjectId = subject,
        PolicyVersion = "1",
        PolicyHash = "h",
        Decision = "filtered",
        Chunks = [.. Enumerable.Range(0, chunks).Select(i => new AuditedChunk
        {
            ChunkId = $"{documentPrefix}-{i}#0",
            DocumentId = $"{documentPrefix}-{i}",
            Version = 1,
            ContentSha256 = "x",
            Label = label,
            Score = 1,
            Subjects = ImmutableArray<string>.Empty,
        })],
    };
}
