using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;

namespace CopilotGuard.Tests.Policy;

public sealed class PolicyBundleTests
{
    private static PolicyBundle Load(string rules) =>
        new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", "apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n" + rules)]);

    private static Principal User(Action<AttributeSetBuilder> attributes)
    {
        var builder = new AttributeSetBuilder();
        attributes(builder);
        return new Principal("u", PrincipalKind.User, builder.Build());
    }

    private static readonly AttributeSet Internal = CopilotGuard.Retrieval.RetrievalBroker.RequestAttributes(null, "internal");

    [Fact]
    public void Decide_NoAllowRuleApplies_IsFalseSoNoStoreQueryIsMade()
    {
        var bundle = Load("""
              - id: hr
                effect: allow
                when: resource.source == "hr" && principal.department == "HR"
            """);
        Assert.Equal(FilterNode.False, bundle.Decide(User(b => b.Add("department", "Marketing")), Internal));
    }

    [Fact]
    public void Decide_PrincipalKnown_ReducesToResidualOverResourceOnly()
    {
        var bundle = Load("""
              - id: support
                effect: allow
                when: resource.source == "support" && resource.account in principal.accounts
              - id: ceiling
                effect: deny
                when: resource.label > principal.clearance
            """);
        var residual = bundle.Decide(User(b => b.AddRange("accounts", ["a", "b"]).Add("clearance", LabelTaxonomy.Default.Get("Confidential").ToAttributeValue())), Internal);
        Assert.Equal(
            "(resource.source Equal support && resource.account in [a, b] && !resource.label GreaterThan Confidential:Label)",
            residual.ToString());
    }

    [Fact]
    public void Decide_MissingPrincipalAttributeInDenyRule_DeniesEverything()
    {
        var bundle = Load("""
              - id: all
                effect: allow
                when: "true"
              - id: ceiling
                effect: deny
                when: resource.label > principal.clearance
            """);
        Assert.Equal(FilterNode.False, bundle.Decide(User(_ => { }), Internal));
    }

    [Fact]
    public void Decide_MissingPrincipalAttributeUnderNegation_NeverGrants()
    {
        var bundle = Load("""
              - id: not-blocked
                effect: allow
                when: "!(principal.blocked == true)"
            """);
        Assert.Equal(FilterNode.False, bundle.Decide(User(_ => { }), Internal));
        Assert.Equal(FilterNode.True, bundle.Decide(User(b => b.Add("blocked", AttributeValue.FromBoolean(false))), Internal));
    }

    [Fact]
    public void Decide_Delegation_IsTheIntersectionOfBothPrincipals()
    {
        var bundle = Load("""
              - id: by-source
                effect: allow
                when: resource.source in principal.sources
            """);
        var user = User(b => b.AddRange("sources", ["kb", "hr"]));
        var agent = new Principal("agent", PrincipalKind.Agent, new AttributeSetBuilder().AddRange("sources", ["kb", "support"]).Build());
        var residual = bundle.Decide(new CallerPrincipals(user, agent), Internal);

        bool Visible(string source) => FilterEvaluator.Matches(residual, new AttributeSetBuilder().Add("source", source).Build());
        Assert.True(Visible("kb"));
        Assert.False(Visible("hr"));
        Assert.False(Visible("support"));
    }

    [Fact]
    public void Load_InvalidBundle_ListsEveryProblemWithFileLineAndRule()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => new PolicyLoader(LabelTaxonomy.Default).Load(
        [
            ("a.yaml", """
                apiVersion: copilotguard/v1
                version: "1"
                rules:
                  - id: good
                    effect: allow
                    when: resource.source == "kb"
                  - id: bad-label
                    effect: allow
                    when: resource.label <= "Top Secret"
                  - id: bad-effect
                    effect: permit
                    when: "true"
                  - effect: allow
                    when: "true"
                    colour: blue
                """),
            ("b.yaml", """
                apiVersion: copilotguard/v1
                version: "2"
                rules:
                  - id: good
                    effect: deny
                    when: resource.source ==
                """),
            ("c.yaml", "rules: [unclosed"),
        ]));

        var messages = exception.Errors.Select(static e => e.ToString()).ToList();
        Assert.Contains(messages, m => m.StartsWith("a.yaml:9 (rule 'bad-label')", StringComparison.Ordinal) && m.Contains("Top Secret", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("a.yaml:10 (rule 'bad-effect')", StringComparison.Ordinal) && m.Contains("permit", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("id is required", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("unknown field 'colour'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("b.yaml:6 (rule 'good')", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("c.yaml", StringComparison.Ordinal) && m.Contains("YAML", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("different versions", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Load_SamplePolicies_AreValid()
    {
        var root = FindRoot();
        var bundle = await new PolicyLoader(LabelTaxonomy.Default).LoadDirectoryAsync(Path.Combine(root, "samples", "policies"), CancellationToken.None);
        Assert.NotEmpty(bundle.Rules);
        Assert.Matches("^[0-9a-f]{64}$", bundle.Sha256);
    }

    [Fact]
    public void Load_NoFiles_IsAnErrorNotAnEmptyBundle()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => new PolicyLoader(LabelTaxonomy.Default).Load([]));
        Assert.Contains("no policy files", exception.Message, StringComparison.Ordinal);
    }

    internal static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CopilotGuard.sln")))
        {
            directory = directory.Parent;
        }

        return directory!.FullName;
    }
}
