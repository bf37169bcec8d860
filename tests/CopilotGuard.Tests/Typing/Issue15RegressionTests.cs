using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Typing;

namespace CopilotGuard.Tests.Typing;

/// <summary>Issue 15: <c>restricted: true</c> was ingested as the string "true", so <c>deny when resource.restricted ==
/// true</c> never fired. Ingested through the real reader and decided by the real bundle, the deny rules now apply.</summary>
public sealed class Issue15RegressionTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "cg-issue15-" + Guid.NewGuid().ToString("N"));

    public Issue15RegressionTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task RestrictedKbDocument_IsDeniedForCarol_AndAnUnrestrictedOneIsNot()
    {
        var repository = Policy.PolicyBundleTests.FindRoot();
        CorpusTypingTests.WriteSource(
            _root,
            File.ReadAllText(Path.Combine(repository, "samples", "corpus", "kb", "source.yaml")),
            ("kb-restricted.md", "---\nid: kb-restricted\ntitle: Restricted runbook\nlabel: General\nrestricted: true\nclearance_level: 5\n---\nBreak-glass procedure."),
            ("kb-open.md", "---\nid: kb-open\ntitle: Open article\nlabel: General\nrestricted: false\nclearance_level: 1\n---\nHow to reset a password."));
        var chunks = await new CorpusReader(LabelTaxonomy.Default).ReadAsync(_root, CancellationToken.None);
        var restricted = chunks.Single(static c => c.DocumentId == "kb-restricted");
        var open = chunks.Single(static c => c.DocumentId == "kb-open");

        var directory = DirectoryFile.Parse("directory.yaml", File.ReadAllText(Path.Combine(repository, "samples", "directory.yaml")), LabelTaxonomy.Default);
        var carol = directory.Principals.Single(static p => p.Id == "carol");
        var bundle = new PolicyLoader(LabelTaxonomy.Default, AttributeSchema.Create(null, directory.AttributeKinds)).Load(
        [
            ("contoso.yaml", File.ReadAllText(Path.Combine(repository, "samples", "policies", "contoso.yaml"))),
            ("restricted.yaml", """
                apiVersion: copilotguard/v1
                version: "2026.11.28"
                rules:
                  - id: restricted-docs
                    effect: deny
                    when: resource.restricted == true
                  - id: high-clearance-level
                    effect: deny
                    when: resource.clearance_level > 3
                """),
        ]);
        var caller = new CallerPrincipals(carol);
        var request = RetrievalBroker.RequestAttributes(null, "internal");
        var residual = bundle.Decide(caller, request);

        Assert.False(FilterEvaluator.Matches(residual, restricted.ResourceAttributes));
        Assert.True(FilterEvaluator.Matches(residual, open.ResourceAttributes));
        var explanation = bundle.Explain(caller, request, restricted.ResourceAttributes);
        Assert.False(explanation.Visible);
        Assert.Contains("denied by rule 'restricted-docs'", explanation.Reason, StringComparison.Ordinal);
        Assert.Contains("denied by rule 'high-clearance-level'", explanation.Reason, StringComparison.Ordinal);
    }
}
