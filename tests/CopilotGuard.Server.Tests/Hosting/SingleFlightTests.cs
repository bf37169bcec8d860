using CopilotGuard.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>Readiness requests that arrive while a database probe runs share it instead of taking the write lock again.</summary>
public sealed class SingleFlightTests
{
    [Fact]
    public async Task RunAsync_WhileAProbeRuns_SharesIt_AndStartsAFreshOneAfter()
    {
        var flight = new SingleFlight();
        var first = new TaskCompletionSource<HealthCheckResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;

        var a = flight.RunAsync(() => { started++; return first.Task; });
        var b = flight.RunAsync(() => { started++; return Task.FromResult(HealthCheckResult.Unhealthy("not shared")); });
        Assert.Equal(1, started);
        Assert.False(b.IsCompleted);

        first.SetResult(HealthCheckResult.Healthy("shared"));
        Assert.Equal("shared", (await a).Description);
        Assert.Equal("shared", (await b).Description);

        var c = await flight.RunAsync(() => { started++; return Task.FromResult(HealthCheckResult.Healthy("fresh")); });
        Assert.Equal(2, started);
        Assert.Equal("fresh", c.Description);
    }
}
