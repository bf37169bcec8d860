using System.Text;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using CopilotGuard.Tests.Policy;

namespace CopilotGuard.Tests.Identity;

/// <summary>Agents and empty lists through the real broker and the sample policy, and <c>policy test</c> deciding
/// exactly as retrieval does (one caller resolver, one destination registry, one agent registry).</summary>
public sealed class ResolutionPathTests
{
    private static readonly string Samples = Path.Combine(PolicyBundleTests.FindRoot(), "samples");
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private static readonly string[] LabelNames = ["Public", "General", "Confidential", "Highly Confidential"];
    private static readonly string[] SourceNames = ["kb", "support", "hr", "marketing", "engineering", "clinical", "payroll", "transactions"];

    private static readonly Lazy<PolicyBundle> Contoso = new(() => new PolicyLoader(Labels).Load([("contoso.yaml", File.ReadAllText(Path.Combine(Samples, "policies", "contoso.yaml")))]));
    private static readonly Lazy<AgentRegistry> Agents = new(() => AgentRegistry.Parse("agents.yaml", File.ReadAllText(Path.Combine(Samples, "agents.yaml"))));
    private static readonly Lazy<DestinationRegistry> Destinations = new(() => DestinationRegistry.Parse("destinations.yaml", File.ReadAllText(Path.Combine(Samples, "destinations.yaml")), Labels));

    /// <summary>The sample directory with the ticket agent's <c>sources</c> line replaced (or removed when null).</summary>
    private static DirectoryFile DirectoryWithAgentSources(string? sourcesLine)
    {
        var text = File.ReadAllText(Path.Combine(Samples, "directory.yaml")).ReplaceLineEndings("\n");
        const string Original = "      sources: [kb]\n";
        Assert.Contains(Original, text, StringComparison.Ordinal);
        return DirectoryFile.Parse("directory.yaml", text.Replace(Original, sourcesLine is null ? string.Empty : $"      sources: {sourcesLine}\n", StringComparison.Ordinal), Labels);
    }

    /// <summary>A broker wired as the runtime wires it: directory narrowed by the agent registry, the registry's gate,
    /// the sample destinations.</summary>
    private static async Task<RetrievalBroker> BrokerAsync(DirectoryFile directory, IReadOnlyList<Chunk> chunks, PolicyBundle? bundle = null)
    {
        var store = new InMemoryChunkStore();
        await store.UpsertAsync([.. chunks.Select(static c => new StoredChunk(c, DeterministicEmbedder.VectorFor(c.Id)))], CancellationToken.None);
        return new RetrievalBroker(
            new RegisteredAgentEntitlementProvider(directory, Agents.Value),
            bundle ?? Contoso.Value,
            store,
            new DeterministicEmbedder(),
            new InMemoryAuditLog(),
            new QueryHasher(new byte[32]),
            gates: [new AgentRegistryGate(Agents.Value)],
            destinations: Destinations.Value);
    }

    private static Chunk Make(string source, string label, string? account = null, string? patient = null)
    {
        var attributes = new AttributeSetBuilder();
        if (account is not null)
        {
            attributes.Add("account", account);
        }

        if (patient is not null)
        {
            attributes.Add("patient", patient);
        }

        var id = $"{source}-{label.Replace(' ', '_')}-{account ?? patient ?? "none"}";
        return new Chunk { Id = id + "#0", DocumentId = id, Source = source, Label = Labels.Get(label), Text = "text of " + id, Attributes = attributes.Build() };
    }

    private static List<Chunk> World()
    {
        var chunks = new List<Chunk>();
        foreach (var source in SourceNames)
        {
            foreach (var label in LabelNames)
            {
                chunks.Add(source switch
                {
                    "support" => Make(source, label, account: "fabrikam"),
                    "clinical" => Make(source, label, patient: "p-1001"),
                    _ => Make(source, label),
                });
            }
        }

        chunks.Add(Make("support", "Confidential", account: "northwind"));
        chunks.Add(Make("clinical", "Highly Confidential", patient: "p-1004"));
        return chunks;
    }

    private static async Task<IReadOnlyList<string>> VisibleAsync(RetrievalBroker broker, CallerIdentity caller, string? destination = "internal", string? purpose = null)
    {
        try
        {
            var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = caller, Query = "anything", Top = 50, Destination = destination, Purpose = purpose }, CancellationToken.None);
            return [.. result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal)];
        }
        catch (GuardException refusal) when (refusal.Kind == GuardErrorKind.Forbidden)
        {
            return [];
        }
    }

    [Fact]
    public void DirectoryFile_EmptyList_IsPresentAndEmpty_AbsentIsMissing()
    {
        var directory = DirectoryWithAgentSources("[]");
        var agent = directory.Principals.Single(static p => p.Id == "ticket-agent");
        var bob = directory.Principals.Single(static p => p.Id == "bob");

        Assert.True(agent.Attributes.TryGet("sources", out var sources));
        Assert.Empty(sources);
        Assert.False(bob.Attributes.TryGet("patients", out _));
        Assert.False(DirectoryWithAgentSources(null).Principals.Single(static p => p.Id == "ticket-agent").Attributes.TryGet("sources", out _));
    }

    [Fact]
    public void DirectoryFile_NestedValues_AreRejected()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => DirectoryFile.Parse("d.yaml", """
            apiVersion: copilotguard/v1
            principals:
              - id: x
                attributes:
                  sources: [[kb]]
                  groups: { a: b }
            """, Labels));

        Assert.Equal(2, exception.Errors.Count);
    }

    [Fact]
    public async Task RegisteredAgent_DirectoryEmptySources_GetsNothing_AbsentSources_GetsItsRegistration()
    {
        var empty = new RegisteredAgentEntitlementProvider(DirectoryWithAgentSources("[]"), Agents.Value);
        var absent = new RegisteredAgentEntitlementProvider(DirectoryWithAgentSources(null), Agents.Value);
        var wider = new RegisteredAgentEntitlementProvider(DirectoryWithAgentSources("[kb, support]"), Agents.Value);

        Assert.True((await empty.ResolveAsync("ticket-agent", CancellationToken.None))!.Attributes.TryGet("sources", out var none));
        Assert.Empty(none);
        Assert.True((await absent.ResolveAsync("ticket-agent", CancellationToken.None))!.Attributes.TryGet("sources", out var registered));
        Assert.Equal(["kb"], registered.Select(static v => v.Text));
        Assert.True((await wider.ResolveAsync("ticket-agent", CancellationToken.None))!.Attributes.TryGet("sources", out var narrowed));
        Assert.Equal(["kb"], narrowed.Select(static v => v.Text));
    }

    [Fact]
    public async Task Broker_DirectoryEmptySources_AgentAloneAndActingForBob_ReceiveNoKnowledgeBaseChunk()
    {
        Chunk[] chunks = [Make("kb", "General"), Make("kb", "Confidential")];
        var empty = await BrokerAsync(DirectoryWithAgentSources("[]"), chunks);
        var sample = await BrokerAsync(DirectoryWithAgentSources("[kb]"), chunks);
        var absent = await BrokerAsync(DirectoryWithAgentSources(null), chunks);

        Assert.Empty(await VisibleAsync(empty, new CallerIdentity("ticket-agent")));
        Assert.Empty(await VisibleAsync(empty, new CallerIdentity("bob", "ticket-agent")));

        // The same requests see the knowledge base when the directory lists it, or says nothing about sources.
        Assert.Equal(2, (await VisibleAsync(sample, new CallerIdentity("bob", "ticket-agent"))).Count);
        Assert.Equal(2, (await VisibleAsync(absent, new CallerIdentity("ticket-agent"))).Count);
    }

    [Fact]
    public async Task Broker_EmptyAccountsList_HasIsTrue_AndADenyRuleGuardedByHasFires()
    {
        var bundle = new PolicyLoader(Labels).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - { id: support-for-users, effect: allow, when: 'resource.source == "support" && principal.kind == "user"' }
              - id: account-holders-only-their-accounts
                effect: deny
                when: 'has(principal.accounts) && !(resource.account in principal.accounts)'
            """)]);
        var directory = DirectoryFile.Parse("d.yaml", """
            apiVersion: copilotguard/v1
            principals:
              - { id: empty, attributes: { accounts: [] } }
              - { id: unset, attributes: { department: Support } }
            """, Labels);
        var empty = directory.Principals.Single(static p => p.Id == "empty");
        var request = RetrievalBroker.RequestAttributes(null, "internal");
        var has = new ExpressionParser(Labels).Parse("has(principal.accounts)");

        Assert.Equal(FilterNode.True, PartialEvaluator.Evaluate(has, PolicyBundle.PrincipalAttributes(empty), request));
        var broker = await BrokerAsync(directory, [Make("support", "General", account: "fabrikam")], bundle);
        Assert.Empty(await VisibleAsync(broker, new CallerIdentity("empty")));
        Assert.Single(await VisibleAsync(broker, new CallerIdentity("unset")));
    }

    [Fact]
    public async Task PolicyTest_AgentRegistrationExcludesASource_DeniesAsRetrievalDoes()
    {
        // The directory grants the agent support; its registration does not.
        var directory = DirectoryWithAgentSources("[kb, support]");
        var ticket = Make("support", "Confidential", account: "fabrikam");
        var broker = await BrokerAsync(directory, [ticket, Make("kb", "Confidential")]);
        const string Case = """
            apiVersion: copilotguard/v1
            tests:
              - name: registration narrows the directory
                principal: bob
                agent: ticket-agent
                request: { destination: internal }
                resource: { source: support, label: Confidential, account: fabrikam }
                expect: {0}
            """;

        Assert.DoesNotContain(ticket.Id, await VisibleAsync(broker, new CallerIdentity("bob", "ticket-agent")));
        var runner = broker.CreatePolicyTestRunner();
        Assert.True((await runner.RunAsync("t.yaml", Case.Replace("{0}", "deny", StringComparison.Ordinal), CancellationToken.None)).Single().Passed);
        Assert.False((await runner.RunAsync("t.yaml", Case.Replace("{0}", "allow", StringComparison.Ordinal), CancellationToken.None)).Single().Passed);

        // Resolving from the directory alone (what policy test did before) allows it: the difference is the registry.
        var directoryOnly = new PolicyTestRunner(Contoso.Value, new CallerResolver(directory), Destinations.Value);
        Assert.True((await directoryOnly.RunAsync("t.yaml", Case.Replace("{0}", "allow", StringComparison.Ordinal), CancellationToken.None)).Single().Passed);
    }

    [Fact]
    public async Task PolicyTest_AgentNotRegisteredForTheDestinationOrPurpose_IsDenied()
    {
        var broker = await BrokerAsync(DirectoryWithAgentSources("[kb]"), [Make("kb", "General")]);
        var results = await broker.CreatePolicyTestRunner().RunAsync("t.yaml", """
            apiVersion: copilotguard/v1
            tests:
              - name: registered for internal only
                principal: bob
                agent: ticket-agent
                request: { destination: external }
                resource: { source: kb, label: General }
                expect: allow
              - name: registered purposes only
                principal: bob
                agent: ticket-agent
                request: { destination: internal, purpose: payroll-run }
                resource: { source: kb, label: General }
                expect: allow
              - name: registered purpose and destination
                principal: bob
                agent: ticket-agent
                request: { destination: internal, purpose: ticket-resolution }
                resource: { source: kb, label: General }
                expect: allow
            """, CancellationToken.None);

        Assert.Equal([false, false, true], results.Select(static r => r.Passed));
        Assert.Contains("not registered for destination 'external'", results[0].Message, StringComparison.Ordinal);
        Assert.Contains("not registered for purpose 'payroll-run'", results[1].Message, StringComparison.Ordinal);
    }

    /// <summary>Every sample principal, alone and through the ticket agent, with every destination kind (registered,
    /// unregistered, none) and purpose: <c>policy test</c>'s decision on each chunk, and <c>policy explain</c>'s, equal
    /// whether retrieval returned it.</summary>
    [Fact]
    public async Task PolicyTestAndExplain_AgreeWithRetrieval_OverSamplePrincipalsAgentsDestinationsAndSources()
    {
        var directory = DirectoryWithAgentSources("[kb, support, hr]");
        var chunks = World();
        var broker = await BrokerAsync(directory, chunks);
        var runner = broker.CreatePolicyTestRunner();
        var subjects = directory.Principals.Select(static p => p.Id).Order(StringComparer.Ordinal).ToList();
        string?[] destinations = ["internal", "external", "azure-openai-eu", "some-vendor", null];
        string?[] purposes = [null, "ticket-resolution", "payroll-run"];
        var compared = 0;
        var allowed = 0;
        var empty = 0;
        foreach (var subject in subjects)
        {
            foreach (var agent in subject == "ticket-agent" ? [null] : new[] { null, "ticket-agent" })
            {
                foreach (var destination in destinations)
                {
                    foreach (var purpose in purposes)
                    {
                        var caller = new CallerIdentity(subject, agent);
                        var visible = (await VisibleAsync(broker, caller, destination, purpose)).ToHashSet(StringComparer.Ordinal);
                        empty += visible.Count == 0 ? 1 : 0;
                        var yaml = new StringBuilder("apiVersion: copilotguard/v1\ntests:\n");
                        foreach (var chunk in chunks)
                        {
                            yaml.Append(Case(subject, agent, destination, purpose, chunk, visible.Contains(chunk.Id)));
                        }

                        var results = await runner.RunAsync("differential.test.yaml", yaml.ToString(), CancellationToken.None);
                        var failed = results.FirstOrDefault(static r => !r.Passed);
                        Assert.True(failed is null, $"{subject}+{agent} to {destination ?? "(none)"} for {purpose ?? "(none)"}: policy test disagrees with retrieval on {failed?.Name}: {failed?.Message}");
                        compared += results.Count;
                        allowed += visible.Count;

                        if (destination is "external" or "some-vendor" && purpose is null)
                        {
                            foreach (var chunk in chunks)
                            {
                                var explained = await broker.ExplainAsync(new ExplainRequest { Requester = new CallerIdentity("cora"), Subject = caller, ChunkId = chunk.Id, Destination = destination }, CancellationToken.None);
                                Assert.True(explained.Visible == visible.Contains(chunk.Id), $"{subject}+{agent} to {destination}: policy explain disagrees with retrieval on {chunk.Id}: {explained.Reason}");
                            }
                        }
                    }
                }
            }
        }

        // The comparison covered allowed and denied chunks, and requests that got nothing.
        Assert.True(compared > 5000, $"{compared}");
        Assert.True(allowed > 200, $"{allowed}");
        Assert.True(empty > 10, $"{empty}");
    }

    private static string Case(string subject, string? agent, string? destination, string? purpose, Chunk chunk, bool expectAllow)
    {
        var text = new StringBuilder()
            .Append($"  - name: {chunk.Id}\n    principal: {subject}\n");
        if (agent is not null)
        {
            text.Append($"    agent: {agent}\n");
        }

        var request = new List<string>();
        if (destination is not null)
        {
            request.Add($"destination: {destination}");
        }

        if (purpose is not null)
        {
            request.Add($"purpose: {purpose}");
        }

        if (request.Count > 0)
        {
            text.Append($"    request: {{ {string.Join(", ", request)} }}\n");
        }

        text.Append($"    resource:\n      source: {chunk.Source}\n      label: {chunk.Label.Name}\n");
        foreach (var name in (string[])["account", "patient"])
        {
            if (chunk.Attributes.TryGet(name, out var values))
            {
                text.Append($"      {name}: {values[0].Text}\n");
            }
        }

        return text.Append($"    expect: {(expectAllow ? "allow" : "deny")}\n").ToString();
    }
}
