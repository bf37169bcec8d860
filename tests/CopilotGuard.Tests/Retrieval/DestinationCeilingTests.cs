using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Retrieval;

/// <summary>A destination's ceiling holds whatever the bundle says: in the pushed filter, in the re-check of what the
/// store returns, and in policy explain.</summary>
public sealed class DestinationCeilingTests
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private static readonly string[] LabelNames = ["Public", "General", "Confidential", "Highly Confidential"];

    // No external-ceiling rule: the bundle alone would release everything to anyone.
    private static readonly PolicyBundle OpenBundle = new PolicyLoader(Labels).Load([("p.yaml", """
        apiVersion: copilotguard/v1
        version: "1"
        rules:
          - { id: everything, effect: allow, when: "true" }
        """)]);

    private static readonly Principal User = new("u", PrincipalKind.User, AttributeSet.Empty);

    private static Chunk Make(string label) =>
        new() { Id = "doc-" + label.Replace(' ', '_') + "#0", DocumentId = "doc-" + label, Source = "kb", Label = Labels.Get(label), Text = "text" };

    private static async Task<(RetrievalBroker Broker, InMemoryChunkStore Store, InMemoryAuditLog Audit)> BrokerAsync(DestinationRegistry? destinations)
    {
        var chunks = LabelNames.Select(Make).ToList();
        var store = new InMemoryChunkStore();
        await store.UpsertAsync([.. chunks.Select(static c => new StoredChunk(c, DeterministicEmbedder.VectorFor(c.Id)))], CancellationToken.None);
        var audit = new InMemoryAuditLog();
        return (new RetrievalBroker(new OneUser(User), OpenBundle, store, new DeterministicEmbedder(), audit, new QueryHasher(new byte[32]), destinations: destinations), store, audit);
    }

    private static async Task<List<string>> LabelsReturnedAsync(RetrievalBroker broker, string? destination)
    {
        var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity("u"), Query = "q", Top = 10, Destination = destination }, CancellationToken.None);
        return [.. result.Chunks.Select(static c => c.Chunk.Label.Name).Order(StringComparer.Ordinal)];
    }

    [Theory]
    [InlineData(null)]
    [InlineData("external")]
    [InlineData("some-vendor")]
    public async Task Retrieve_UnregisteredOrExternalDestination_GetsNothingAboveGeneral_InThePushedFilter(string? destination)
    {
        var (broker, store, audit) = await BrokerAsync(TestDestinations.Standard(Labels));

        Assert.Equal(["General", "Public"], await LabelsReturnedAsync(broker, destination));
        var pushed = store.ReceivedFilters.Single();
        Assert.False(FilterEvaluator.Matches(pushed, Make("Confidential").ResourceAttributes));
        var record = audit.Entries.Single().Record;
        Assert.Equal("external", record.Destination);
        Assert.Empty(record.PostFilterDrops);
    }

    [Fact]
    public async Task Retrieve_Internal_GetsEverythingTheBundleAllows()
    {
        var (broker, _, audit) = await BrokerAsync(TestDestinations.Standard(Labels));

        Assert.Equal(4, (await LabelsReturnedAsync(broker, "internal")).Count);
        Assert.Equal("internal", audit.Entries.Single().Record.Destination);
    }

    [Fact]
    public async Task Retrieve_NoRegistry_EvenInternalIsTreatedAsExternalGeneral()
    {
        var (broker, _, audit) = await BrokerAsync(destinations: null);

        Assert.Equal(["General", "Public"], await LabelsReturnedAsync(broker, "internal"));
        Assert.Equal("external", audit.Entries.Single().Record.Destination);
    }

    [Fact]
    public async Task Retrieve_StoreIgnoresThePushedFilter_TheReCheckDropsWhatIsAboveTheCeiling()
    {
        var (broker, store, audit) = await BrokerAsync(TestDestinations.Standard(Labels));
        var all = LabelNames.Select(Make).ToList();
        store.Tamper = _ => [.. all.Select(static c => new ScoredChunk(c, 0.5))];

        Assert.Equal(["General", "Public"], await LabelsReturnedAsync(broker, "some-vendor"));
        var drops = audit.Entries.Single().Record.PostFilterDropReasons;
        Assert.Equal(2, drops.Length);
        Assert.All(drops, static d => Assert.Contains("resource.label", d.Reason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Retrieve_ExternalDestinationLoweredToPublic_GetsOnlyPublic()
    {
        var registry = DestinationRegistry.Parse("d.yaml", """
            apiVersion: copilotguard/v1
            destinations:
              - { id: internal, kind: internal, ceiling: Confidential }
              - { id: press, kind: external, ceiling: Public }
            """, Labels);
        var (broker, _, _) = await BrokerAsync(registry);

        Assert.Equal(["Public"], await LabelsReturnedAsync(broker, "press"));
        Assert.Equal(["Public"], await LabelsReturnedAsync(broker, "unknown"));
        Assert.Equal(["Confidential", "General", "Public"], await LabelsReturnedAsync(broker, "internal"));
    }

    [Fact]
    public async Task Explain_AboveTheDestinationsCeiling_IsNotVisibleWithTheReason()
    {
        var (broker, _, _) = await BrokerAsync(TestDestinations.Standard(Labels));

        var external = await broker.ExplainAsync(new ExplainRequest { Requester = new CallerIdentity("u"), ChunkId = Make("Confidential").Id, Destination = "some-vendor" }, CancellationToken.None);
        var @internal = await broker.ExplainAsync(new ExplainRequest { Requester = new CallerIdentity("u"), ChunkId = Make("Confidential").Id, Destination = "internal" }, CancellationToken.None);

        Assert.False(external.Visible);
        Assert.Contains("resource.label <= label(\"General\")", external.Filters["policy"], StringComparison.Ordinal);
        Assert.True(@internal.Visible);
    }

    private sealed class OneUser(Principal user) : IEntitlementProvider
    {
        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(principalId == user.Id ? user : null);
    }
}
