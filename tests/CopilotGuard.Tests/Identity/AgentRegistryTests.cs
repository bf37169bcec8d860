using CopilotGuard.Identity;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Tests.Identity;

public sealed class AgentRegistryTests
{
    private const string Registry = """
        apiVersion: copilotguard/v1
        agents:
          - id: ticket-agent
            capabilities:
              sources: [kb, support]
              purposes: [ticket-resolution]
              destinations: [internal]
          - id: strict-agent
            capabilities:
              sources: [kb]
              purposes: [audit-prep]
              destinations: [internal, external]
              requirePurpose: true
        """;

    [Fact]
    public void Parse_SampleFile_IsValid()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "CopilotGuard.sln")))
        {
            root = Path.GetDirectoryName(root)!;
        }

        var registry = AgentRegistry.Parse("agents.yaml", File.ReadAllText(Path.Combine(root, "samples", "agents.yaml")));

        Assert.True(registry.TryGet("ticket-agent", out var agent));
        Assert.Equal(["kb"], agent.Sources.AsEnumerable());
        Assert.Equal(["internal"], agent.Destinations.AsEnumerable());
    }

    [Fact]
    public void Parse_InvalidEntries_ReportsEveryProblemWithItsLine()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => AgentRegistry.Parse("agents.yaml", """
            apiVersion: copilotguard/v1
            agents:
              - id: a
                colour: blue
                capabilities:
                  destinations: []
              - id: a
                capabilities:
                  destinations: [internal]
                  requirePurpose: maybe
              - capabilities: {}
            """));

        var messages = exception.Errors.Select(static e => $"{e.Line}: {e.Message}").ToList();
        Assert.Contains(messages, static m => m.Contains("unknown field 'colour'", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("destinations must list at least one", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("requirePurpose must be true or false", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("listed twice", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("id is required", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ResolveAsync_UnregisteredAgent_IsUnknown()
    {
        var directory = new FakeEntitlementProvider { Resolve = id => People.Agent(id, "kb") };
        var provider = new RegisteredAgentEntitlementProvider(directory, AgentRegistry.Parse("a.yaml", Registry));

        Assert.Null(await provider.ResolveAsync("rogue-agent", CancellationToken.None));
    }

    [Fact]
    public async Task ResolveAsync_RegisteredAgent_SourcesAreTheIntersection()
    {
        var directory = new FakeEntitlementProvider { Resolve = id => People.Agent(id, "kb", "hr") };
        var provider = new RegisteredAgentEntitlementProvider(directory, AgentRegistry.Parse("a.yaml", Registry));

        var agent = await provider.ResolveAsync("ticket-agent", CancellationToken.None);

        Assert.NotNull(agent);
        Assert.True(agent.Attributes.TryGet("sources", out var sources));
        Assert.Equal(["kb"], sources.Select(static s => s.Text));
    }

    [Theory]
    [InlineData("ticket-agent", "ticket-resolution", "internal", null)]
    [InlineData("ticket-agent", null, "internal", null)]
    [InlineData("ticket-agent", "payroll-review", "internal", "purpose 'payroll-review'")]
    [InlineData("ticket-agent", "ticket-resolution", "external", "destination 'external'")]
    [InlineData("strict-agent", null, "internal", "must declare one of the purposes")]
    [InlineData("rogue-agent", null, "internal", "not a registered agent")]
    public async Task CheckAsync_AgentRequest_AllowsOnlyRegisteredCapabilities(string agentId, string? purpose, string destination, string? refusal)
    {
        var gate = new AgentRegistryGate(AgentRegistry.Parse("a.yaml", Registry));
        var caller = new CallerPrincipals(People.User("bob"), People.Agent(agentId, "kb"));
        var check = async () => await gate.CheckAsync(caller, new AccessRequest("retrieve", purpose, destination), CancellationToken.None);

        if (refusal is null)
        {
            await check();
            return;
        }

        var exception = await Assert.ThrowsAsync<GuardException>(check);
        Assert.Equal(GuardErrorKind.Forbidden, exception.Kind);
        Assert.Contains(refusal, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_UserAlone_IsNotConstrained()
    {
        var gate = new AgentRegistryGate(AgentRegistry.Empty);
        await gate.CheckAsync(new CallerPrincipals(People.User("bob")), new AccessRequest("retrieve", "anything", "external"), CancellationToken.None);
        Assert.Empty(AgentRegistry.Empty.Agents);
    }
}
