using System.Collections.Concurrent;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using CopilotGuard.Tests.Policy;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Tests.Retrieval;

/// <summary>A broker over a <see cref="PolicySnapshotHolder"/>: each request decides, gates and audits with the one
/// snapshot current when it started, and a swap applies to the next request.</summary>
public sealed class PolicySnapshotSwapTests
{
    private static readonly string Samples = Path.Combine(PolicyBundleTests.FindRoot(), "samples");
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private static readonly string ContosoText = File.ReadAllText(Path.Combine(Samples, "policies", "contoso.yaml")).ReplaceLineEndings("\n");
    private static readonly DirectoryFile Directory = DirectoryFile.Parse("directory.yaml", File.ReadAllText(Path.Combine(Samples, "directory.yaml")), Labels);
    private static readonly AgentRegistry Agents = AgentRegistry.Parse("agents.yaml", File.ReadAllText(Path.Combine(Samples, "agents.yaml")));
    private static readonly DestinationRegistry Destinations = DestinationRegistry.Parse("destinations.yaml", File.ReadAllText(Path.Combine(Samples, "destinations.yaml")), Labels);

    /// <summary>The sample bundle (version 1) and one that also denies the marketing source (version 2).</summary>
    private static readonly PolicyBundle V1 = Bundle("v1", denyMarketing: false);
    private static readonly PolicyBundle V2 = Bundle("v2", denyMarketing: true);

    private static PolicyBundle Bundle(string version, bool denyMarketing)
    {
        Assert.Contains("version: \"2026.11.28\"\n", ContosoText, StringComparison.Ordinal);
        var text = ContosoText.Replace("version: \"2026.11.28\"\n", $"version: \"{version}\"\n", StringComparison.Ordinal);
        if (denyMarketing)
        {
            text = text.Replace("rules:\n", "rules:\n  - id: no-marketing\n    effect: deny\n    when: resource.source == \"marketing\"\n", StringComparison.Ordinal);
        }

        return new PolicyLoader(Labels).Load([("contoso.yaml", text)]);
    }

    private static PolicySnapshot Snapshot(PolicyBundle bundle, AgentRegistry agents) =>
        new(bundle, new RegisteredAgentEntitlementProvider(Directory, agents), Destinations, agents, directory: Directory);

    private static async Task<(RetrievalBroker Broker, InMemoryAuditLog Audit)> BrokerAsync(PolicySnapshotHolder holder, IAccessGate? extraGate = null)
    {
        var store = new InMemoryChunkStore();
        var chunks = new List<Chunk>();
        foreach (var source in (string[])["kb", "marketing", "hr"])
        {
            foreach (var label in (string[])["Public", "General", "Confidential"])
            {
                var id = $"{source}-{label}";
                chunks.Add(new Chunk { Id = id + "#0", DocumentId = id, Source = source, Label = Labels.Get(label), Text = "text of " + id, Attributes = AttributeSet.Empty });
            }
        }

        await store.UpsertAsync([.. chunks.Select(static c => new StoredChunk(c, DeterministicEmbedder.VectorFor(c.Id)))], CancellationToken.None);
        var audit = new InMemoryAuditLog();
        var broker = new RetrievalBroker(holder, store, new SlowEmbedder(new DeterministicEmbedder()), audit, new QueryHasher(new byte[32]), gates: extraGate is null ? [new AgentRegistryGate(holder)] : [new AgentRegistryGate(holder), extraGate]);
        return (broker, audit);
    }

    private static Task<RetrievalResult> RetrieveAsync(RetrievalBroker broker, CallerIdentity caller) =>
        broker.RetrieveAsync(new RetrievalRequest { Caller = caller, Query = "plans", Top = 50, Destination = "internal" }, CancellationToken.None);

    [Fact]
    public async Task Swap_AppliesToTheNextRequest_AndItsRecordCarriesTheNewVersionAndHash()
    {
        var holder = new PolicySnapshotHolder(Snapshot(V1, Agents));
        var (broker, _) = await BrokerAsync(holder);

        var before = await RetrieveAsync(broker, new CallerIdentity("carol"));
        Assert.Contains(before.Chunks, static c => c.Chunk.Source == "marketing");
        Assert.Equal(("v1", V1.Sha256), (before.Record.PolicyVersion, before.Record.PolicyHash));

        var previous = holder.Swap(Snapshot(V2, Agents));

        Assert.Equal("v1", previous.Version);
        Assert.NotEqual(V1.Sha256, V2.Sha256);
        var after = await RetrieveAsync(broker, new CallerIdentity("carol"));
        Assert.DoesNotContain(after.Chunks, static c => c.Chunk.Source == "marketing");
        Assert.Contains(after.Chunks, static c => c.Chunk.Source == "kb");
        Assert.Equal(("v2", V2.Sha256), (after.Record.PolicyVersion, after.Record.PolicyHash));
        Assert.Same(V2, broker.Policy);
    }

    [Fact]
    public async Task AgentRegistry_ComesFromTheRequestsSnapshot_AndTheRefusalCarriesItsVersion()
    {
        var holder = new PolicySnapshotHolder(Snapshot(V1, Agents));
        var (broker, audit) = await BrokerAsync(holder);
        var agentCaller = new CallerIdentity("bob", "ticket-agent");

        var allowed = await RetrieveAsync(broker, agentCaller);
        Assert.Equal("v1", allowed.Record.PolicyVersion);

        // Still registered (so it resolves), but no longer for the internal destination: only the gate can refuse it,
        // and only if it reads the registry of the snapshot the request runs on.
        var externalOnly = AgentRegistry.Parse("agents.yaml", File.ReadAllText(Path.Combine(Samples, "agents.yaml")).Replace("destinations: [internal]", "destinations: [external]", StringComparison.Ordinal));
        Assert.True(externalOnly.TryGet("ticket-agent", out var registration) && !registration.Destinations.Contains("internal"));
        holder.Swap(Snapshot(V2, externalOnly));
        var refusal = await Assert.ThrowsAsync<GuardException>(() => RetrieveAsync(broker, agentCaller));

        Assert.Equal(GuardErrorKind.Forbidden, refusal.Kind);
        var refused = audit.Entries[^1].Record;
        Assert.Equal("refused", refused.Kind);
        Assert.Contains("AgentRegistryGate", refused.Target, StringComparison.Ordinal);
        Assert.Equal(("v2", V2.Sha256), (refused.PolicyVersion, refused.PolicyHash));
    }

    [Fact]
    public async Task ConcurrentRequestsDuringSwaps_EachRecordCarriesOneVersion_AndReleasesOnlyWhatThatVersionAllows()
    {
        var snapshots = new[] { Snapshot(V1, Agents), Snapshot(V2, Agents) };
        var holder = new PolicySnapshotHolder(snapshots[0]);
        var (broker, audit) = await BrokerAsync(holder);
        var results = new ConcurrentBag<RetrievalResult>();
        using var stop = new CancellationTokenSource();

        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                results.Add(await RetrieveAsync(broker, new CallerIdentity("carol")));
            }
        })).ToList();
        // Swap back and forth until many requests ran and both versions decided some (bounded: fails rather than hangs).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        for (var i = 1; results.Count < 200 || results.Select(static r => r.Record.PolicyVersion).Distinct().Count() < 2; i++)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Only {results.Count} requests completed.");
            Assert.DoesNotContain(clients, static c => c.IsFaulted);
            holder.Swap(snapshots[i % 2]);
            await Task.Delay(1);
        }

        await stop.CancelAsync();
        await Task.WhenAll(clients);
        foreach (var result in results)
        {
            var bundle = result.Record.PolicyVersion == "v1" ? V1 : V2;
            Assert.Equal(bundle.Version, result.Record.PolicyVersion);
            Assert.Equal(bundle.Sha256, result.Record.PolicyHash);
            if (bundle == V2)
            {
                Assert.DoesNotContain(result.Chunks, static c => c.Chunk.Source == "marketing");
            }
            else
            {
                Assert.Contains(result.Chunks, static c => c.Chunk.Source == "marketing");
            }
        }

        Assert.All(audit.Entries, static e => Assert.True(e.Record.PolicyVersion is "v1" or "v2"));
    }

    [Fact]
    public async Task Explain_SwapWhileGating_DecidesAndRecordsWithTheSnapshotItStartedOn()
    {
        var holder = new PolicySnapshotHolder(Snapshot(V1, Agents));
        var (broker, audit) = await BrokerAsync(holder, new SwapOnceGate(holder, Snapshot(V2, Agents)));

        // The gate swaps in V2 (which denies marketing) while the explanation is being admitted: the operation began
        // on V1, so it decides, answers and records V1 throughout.
        var explanation = await broker.ExplainAsync(new ExplainRequest { Requester = new CallerIdentity("carol"), ChunkId = "marketing-General#0", Destination = "internal" }, CancellationToken.None);

        Assert.Same(V2, holder.Current.Policy);
        Assert.True(explanation.Visible, explanation.Reason);
        Assert.Equal("v1", explanation.PolicyVersion);
        var record = audit.Entries[^1].Record;
        Assert.Equal("policy-explain", record.Kind);
        Assert.Equal(("v1", V1.Sha256), (record.PolicyVersion, record.PolicyHash));
    }

    [Fact]
    public async Task Deanonymize_SwapWhileGating_RecordsTheSnapshotItStartedOn()
    {
        var holder = new PolicySnapshotHolder(Snapshot(V1, Agents));
        var (broker, audit) = await BrokerAsync(holder, new SwapOnceGate(holder, Snapshot(V2, Agents)));

        // No anonymizer: the request is refused, after its record is written with the version it began on.
        var refusal = await Assert.ThrowsAsync<GuardException>(() => broker.DeanonymizeAsync(new DeanonymizeRequest(new CallerIdentity("carol"), "c1", "text"), CancellationToken.None));

        Assert.Equal(GuardErrorKind.Forbidden, refusal.Kind);
        Assert.Same(V2, holder.Current.Policy);
        var record = audit.Entries[^1].Record;
        Assert.Equal("deanonymize", record.Kind);
        Assert.Equal(("v1", V1.Sha256), (record.PolicyVersion, record.PolicyHash));
    }

    [Fact]
    public async Task AuditQuery_SwapWhileGating_RecordsTheSnapshotItStartedOn()
    {
        var holder = new PolicySnapshotHolder(Snapshot(V1, Agents));
        var (broker, audit) = await BrokerAsync(holder, new SwapOnceGate(holder, Snapshot(V2, Agents)));
        var service = new AuditService(audit, new UnusedAuditReader(), broker.Operations);

        await Assert.ThrowsAsync<GuardException>(() => service.AuthorizeAsync(new AuditRequester(new CallerIdentity("carol")), "receipt:x", CancellationToken.None));

        Assert.Same(V2, holder.Current.Policy);
        var record = audit.Entries[^1].Record;
        Assert.Equal(AuditRecordKinds.AuditQuery, record.Kind);
        Assert.Equal("denied", record.Decision);
        Assert.Equal(("v1", V1.Sha256), (record.PolicyVersion, record.PolicyHash));
    }

    /// <summary>An audit query's authorization reads nothing.</summary>
    private sealed class UnusedAuditReader : IAuditReader
    {
        public IAsyncEnumerable<StoredAuditEntry> ReadAsync(long afterSequence, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<AuditCheckpoint>> GetCheckpointsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<AuditPage> GetDocumentAccessesAsync(string documentId, AuditPageRequest page, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<AuditPage> GetSubjectAccessesAsync(string subjectId, AuditPageRequest page, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<AuditEntry>> GetAnswersForReceiptAsync(string receiptId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    /// <summary>Swaps the holder's snapshot the first time any request is gated: an operation that read the holder
    /// again after its gates would decide or record with the swapped-in snapshot.</summary>
    private sealed class SwapOnceGate(PolicySnapshotHolder holder, PolicySnapshot next) : IAccessGate
    {
        private int _swapped;

        public ValueTask CheckAsync(CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _swapped, 1) == 0)
            {
                holder.Swap(next);
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Takes a moment to embed, so that swaps land between a request's decision and its audit record: a broker
    /// that read the holder twice would stamp a version that did not decide the request.</summary>
    private sealed class SlowEmbedder(IEmbeddingGenerator<string, Embedding<float>> inner) : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
    {
        public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            await Task.Delay(1, cancellationToken);
            return await base.GenerateAsync(values, options, cancellationToken);
        }
    }
}
