using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Policy;

public sealed class PolicyToolingTests
{
    private static readonly string Samples = Path.Combine(PolicyBundleTests.FindRoot(), "samples");

    private static async Task<(PolicyBundle Bundle, DirectoryFile Directory)> LoadSamplesAsync() =>
        (await new PolicyLoader(LabelTaxonomy.Default).LoadDirectoryAsync(Path.Combine(Samples, "policies"), CancellationToken.None),
         await DirectoryFile.LoadAsync(Path.Combine(Samples, "directory.yaml"), LabelTaxonomy.Default, CancellationToken.None));

    /// <summary>A runner wired as the runtime wires the broker: directory narrowed by the sample agent registry, the
    /// sample destinations and the registry's checks.</summary>
    internal static PolicyTestRunner SampleRunner(PolicyBundle bundle, DirectoryFile directory)
    {
        var agents = AgentRegistry.Parse("agents.yaml", File.ReadAllText(Path.Combine(Samples, "agents.yaml")));
        var destinations = DestinationRegistry.Parse("destinations.yaml", File.ReadAllText(Path.Combine(Samples, "destinations.yaml")), bundle.Labels);
        return new PolicyTestRunner(bundle, new CallerResolver(new RegisteredAgentEntitlementProvider(directory, agents)), destinations, [new AgentRegistryGate(agents)]);
    }

    [Fact]
    public async Task RunDirectory_SamplePolicyTests_AllPass()
    {
        var (bundle, directory) = await LoadSamplesAsync();
        var results = await SampleRunner(bundle, directory).RunDirectoryAsync(Path.Combine(Samples, "policies"), CancellationToken.None);
        Assert.True(results.Count >= 15);
        Assert.All(results, result => Assert.True(result.Passed, $"{result.Name}: {result.Message}"));
    }

    [Fact]
    public async Task Run_WrongExpectations_FailWithTheReasonAndLine()
    {
        var (bundle, directory) = await LoadSamplesAsync();
        var results = await SampleRunner(bundle, directory).RunAsync("bad.test.yaml", """
            apiVersion: copilotguard/v1
            tests:
              - name: wrong allow
                principal: carol
                request: { destination: internal }
                resource: { source: payroll, label: Highly Confidential }
                expect: allow
              - name: wrong residual
                principal: carol
                request: { destination: internal }
                expectResidual: resource.source == "payroll"
              - name: unknown principal
                principal: mallory
                resource: { source: kb }
                expect: deny
              - name: typo
                principal: carol
                expct: deny
            """, CancellationToken.None);

        Assert.All(results, static r => Assert.False(r.Passed));
        Assert.StartsWith("expected allow but got deny: carol: denied by rule 'clearance-ceiling', and no allow rule matched", results[0].Message, StringComparison.Ordinal);
        Assert.Equal(3, results[0].Line);
        Assert.StartsWith("expected residual resource.source == \"payroll\" but got", results[1].Message, StringComparison.Ordinal);
        Assert.Contains("mallory", results[2].Message, StringComparison.Ordinal);
        Assert.Contains("unknown field 'expct'", results[3].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_SamplePolicy_NamesTheDecidingRules()
    {
        var (bundle, directory) = await LoadSamplesAsync();
        var bob = (await directory.ResolveAsync("bob", CancellationToken.None))!;
        var request = CopilotGuard.Retrieval.RetrievalBroker.RequestAttributes(null, null);
        var ticket = new AttributeSetBuilder().Add("source", "support").Add("account", "fabrikam").Add("label", LabelTaxonomy.Default.Get("Confidential").ToAttributeValue()).Build();

        var external = bundle.Explain(new CallerPrincipals(bob), request, ticket);

        Assert.False(external.Visible);
        Assert.Contains("denied by rule 'external-destination-ceiling'", external.Reason, StringComparison.Ordinal);
        var principal = Assert.Single(external.Principals);
        Assert.Equal(RuleMatch.Matched, principal.Rules.Single(static r => r.RuleId == "support-tickets-for-assigned-engineers").Match);
    }

    [Fact]
    public async Task Explain_DenyRuleOverMissingAttribute_IsUndecidedAndDenies()
    {
        var bundle = new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - id: all
                effect: allow
                when: "true"
              - id: embargo
                effect: deny
                when: resource.embargoed == true
            """)]);
        var user = new Principal("u", PrincipalKind.User, AttributeSet.Empty);

        var explanation = bundle.Explain(new CallerPrincipals(user), AttributeSet.Empty, AttributeSet.Empty);

        Assert.False(explanation.Visible);
        Assert.Equal(RuleMatch.Undecided, explanation.Principals[0].Rules[1].Match);
        Assert.Contains("could not be decided", explanation.Reason, StringComparison.Ordinal);
        await Task.CompletedTask;
    }

    [Fact]
    public void PushdownReport_StoreWithoutNegationOrPrefix_KeepsThoseAsPostFilter()
    {
        var bundle = new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - id: paths
                effect: allow
                when: resource.path.startsWith("/public/") && resource.account in principal.accounts
              - id: ceiling
                effect: deny
                when: resource.label > principal.clearance
            """)]);

        var items = PushdownReport.Create(bundle, FilterCapabilities.Equality | FilterCapabilities.In | FilterCapabilities.Range);

        Assert.Collection(
            items,
            item => Assert.Equal(("paths", false), (item.RuleId, item.PushedDown)),
            item => Assert.Equal(("paths", true), (item.RuleId, item.PushedDown)),
            item => Assert.Equal(("ceiling", false, FilterCapabilities.Range | FilterCapabilities.Not), (item.RuleId, item.PushedDown, item.Needs)));
        Assert.All(PushdownReport.Create(bundle, FilterCapabilities.All), static item => Assert.True(item.PushedDown));
    }

    [Fact]
    public void Format_RandomResiduals_ParseBackToTheSameMeaning()
    {
        var parser = new ExpressionParser(LabelTaxonomy.Default);
        for (var seed = 0; seed < 300; seed++)
        {
            var scenarios = new RandomScenarios(seed);
            var bundle = scenarios.Policy(scenarios.Random.Next(1, 6));
            var caller = new CallerPrincipals(scenarios.Principal("u", PrincipalKind.User));
            var request = scenarios.Request();
            var residual = bundle.Decide(caller, request);

            var text = FilterFormatter.Format(residual);
            var reparsed = PartialEvaluator.Evaluate(parser.ParseResidual(text), AttributeSet.Empty, AttributeSet.Empty);

            Assert.Equal(text, FilterFormatter.Format(Filters.ToNegationNormalForm(reparsed)));
            for (var i = 0; i < 30; i++)
            {
                var resource = scenarios.Chunk(i).ResourceAttributes;
                Assert.Equal(FilterEvaluator.Matches(residual, resource), FilterEvaluator.Matches(reparsed, resource));
            }
        }
    }
}
