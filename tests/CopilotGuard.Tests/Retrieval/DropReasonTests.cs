using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Retrieval;

/// <summary>Every chunk the post-filter drops is recorded with why: the parts of the exact policy filter it failed,
/// false or undecided, in policy syntax and without chunk content.</summary>
public sealed class DropReasonTests
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;

    [Fact]
    public async Task Retrieve_StoreReturnsChunksThePolicyDenies_EachDropIsRecordedWithTheFailedCondition()
    {
        var visible = Make("kb-1#0", "kb-1", "kb", "General", "contoso", "the visible text");
        var otherSource = Make("hr-1#0", "hr-1", "hr", "General", "contoso", "salary of Jane Doe");
        var tooSensitive = Make("kb-2#0", "kb-2", "kb", "Highly Confidential", "contoso", "the secret plan");
        var noAccount = Make("kb-3#0", "kb-3", "kb", "General", account: null, "unowned text");
        var all = new[] { visible, otherSource, tooSensitive, noAccount };
        var store = new InMemoryChunkStore();
        await store.UpsertAsync([.. all.Select(static c => new StoredChunk(c, DeterministicEmbedder.VectorFor(c.Id)))], CancellationToken.None);

        // A store that ignores the pushed-down filter: the broker's exact re-check must catch and explain every extra chunk.
        store.Tamper = _ => [.. all.Select(static c => new ScoredChunk(c, 0.5))];
        var policy = new PolicyLoader(Labels).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - id: kb-for-accounts
                effect: allow
                when: 'resource.source == "kb" && resource.label <= label("General") && resource.account in principal.accounts'
            """)]);
        var user = new Principal("bob", PrincipalKind.User, new AttributeSetBuilder().Add("accounts", "contoso").Build());
        var audit = new InMemoryAuditLog();
        var broker = new RetrievalBroker(new OneUser(user), policy, store, new DeterministicEmbedder(), audit, new QueryHasher(new byte[32]), destinations: TestDestinations.Standard(policy.Labels));

        var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity("bob"), Query = "plans", Top = 10, Destination = "internal" }, CancellationToken.None);

        Assert.Equal(["kb-1#0"], result.Chunks.Select(static c => c.Chunk.Id));
        var record = audit.Entries.Single(e => e.Record.RecordId == result.ReceiptId).Record;
        Assert.True(record.PushdownExact);
        Assert.Equal(record.PostFilterDrops, record.PostFilterDropReasons.Select(static d => d.ChunkId));
        var reasons = record.PostFilterDropReasons.ToDictionary(static d => d.ChunkId);
        Assert.Equal(["hr-1#0", "kb-2#0", "kb-3#0"], reasons.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("hr-1", reasons["hr-1#0"].DocumentId);
        Assert.Contains("resource.source", reasons["hr-1#0"].Reason, StringComparison.Ordinal);
        Assert.EndsWith("is false", reasons["hr-1#0"].Reason, StringComparison.Ordinal);
        Assert.Contains("resource.label", reasons["kb-2#0"].Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("resource.source", reasons["kb-2#0"].Reason, StringComparison.Ordinal);
        Assert.Contains("resource.account", reasons["kb-3#0"].Reason, StringComparison.Ordinal);
        Assert.Contains("cannot be decided", reasons["kb-3#0"].Reason, StringComparison.Ordinal);

        var json = JsonSerializer.Serialize(record, AuditJsonContext.Default.AuditRecord);
        foreach (var text in new[] { "salary", "Jane", "secret", "unowned" })
        {
            Assert.DoesNotContain(text, json, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ExplainFailure_NamesOnlyTheConjunctsThatAreNotTrue_AndCountsTheRest()
    {
        var resource = new AttributeSetBuilder().Add("a", "1").Add("b", "2").Build();
        var filter = Filters.And(
        [
            new ComparisonFilter("a", ComparisonOperator.Equal, AttributeValue.FromString("1")),
            new ComparisonFilter("b", ComparisonOperator.Equal, AttributeValue.FromString("x")),
            new ComparisonFilter("c", ComparisonOperator.Equal, AttributeValue.FromString("y")),
            new ComparisonFilter("d", ComparisonOperator.Equal, AttributeValue.FromString("z")),
        ]);

        var reason = FilterEvaluator.ExplainFailure(filter, resource, max: 2);

        Assert.DoesNotContain("resource.a", reason, StringComparison.Ordinal);
        Assert.StartsWith("resource.b == \"x\" is false; resource.c == \"y\" cannot be decided", reason, StringComparison.Ordinal);
        Assert.EndsWith("; and 1 more", reason, StringComparison.Ordinal);
        Assert.Equal(string.Empty, FilterEvaluator.ExplainFailure(FilterNode.True, resource));
    }

    private static Chunk Make(string id, string document, string source, string label, string? account, string text) => new()
    {
        Id = id,
        DocumentId = document,
        Source = source,
        Label = Labels.Get(label),
        Text = text,
        Attributes = account is null ? AttributeSet.Empty : new AttributeSetBuilder().Add("account", account).Build(),
    };

    private sealed class OneUser(Principal user) : IEntitlementProvider
    {
        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(principalId == user.Id ? user : null);
    }
}
