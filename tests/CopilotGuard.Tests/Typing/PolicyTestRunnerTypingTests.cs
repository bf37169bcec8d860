using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;

namespace CopilotGuard.Tests.Typing;

/// <summary>Policy test cases read resource attributes with the same typer as ingestion.</summary>
public sealed class PolicyTestRunnerTypingTests
{
    [Fact]
    public async Task TestCaseResources_AreTypedLikeIngestedOnes()
    {
        var root = Policy.PolicyBundleTests.FindRoot();
        var bundle = new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - id: all
                effect: allow
                when: "true"
              - id: restricted
                effect: deny
                when: resource.restricted == true || resource.level > 3
            """)]);
        var directory = await DirectoryFile.LoadAsync(Path.Combine(root, "samples", "directory.yaml"), LabelTaxonomy.Default, CancellationToken.None);

        var results = await new PolicyTestRunner(bundle, new CopilotGuard.Identity.CallerResolver(directory)).RunAsync("t.test.yaml", """
            apiVersion: copilotguard/v1
            tests:
              - name: a boolean denies
                principal: carol
                resource: { source: kb, label: General, restricted: TRUE, level: 1 }
                expect: deny
              - name: false and a low level allow
                principal: carol
                resource: { source: kb, label: General, restricted: false, level: 0x2, version: "3" }
                expect: allow
              - name: a null is refused
                principal: carol
                resource: { source: kb, label: General, restricted: ~ }
                expect: allow
            """, CancellationToken.None);

        Assert.True(results[0].Passed, results[0].Message);
        Assert.True(results[1].Passed, results[1].Message);
        Assert.False(results[2].Passed);
        Assert.Contains("resource attribute 'restricted': the value is null", results[2].Message, StringComparison.Ordinal);
    }
}
