using System.Diagnostics;
using System.Diagnostics.Metrics;
using CopilotGuard.Audit;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Retrieval;

/// <summary>Retrieval spans and metrics carry ids and counts, never the query or chunk text.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class TelemetryTests
{
    [Fact]
    public async Task Retrieve_EmitsASpanAndMetrics_WithIdsAndCountsButNoContent()
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == RetrievalTelemetry.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        var measurements = new List<(string Instrument, long Value)>();
        using var meters = new MeterListener { InstrumentPublished = static (instrument, l) => { if (instrument.Meter.Name == RetrievalTelemetry.Name) { l.EnableMeasurementEvents(instrument); } } };
        meters.SetMeasurementEventCallback<long>((instrument, value, _, _) => { lock (measurements) { measurements.Add((instrument.Name, value)); } });
        meters.Start();

        var store = new InMemoryChunkStore();
        var chunk = new Chunk { Id = "c1", DocumentId = "d1", Source = "kb", Label = LabelTaxonomy.Default.Get("General"), Text = "The secret plan of Jane Doe." };
        await store.UpsertAsync([new StoredChunk(chunk, DeterministicEmbedder.VectorFor("x"))], CancellationToken.None);
        var policy = new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", "apiVersion: copilotguard/v1\nversion: \"7\"\nrules:\n  - id: all\n    effect: allow\n    when: \"true\"\n")]);
        var user = new Principal("u1", PrincipalKind.User, CopilotGuard.Filtering.AttributeSet.Empty);
        var broker = new RetrievalBroker(new OneUser(user), policy, store, new DeterministicEmbedder(), new InMemoryAuditLog(), new QueryHasher(new byte[32]), destinations: TestDestinations.Standard(policy.Labels));

        var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity("u1"), Query = "who is Jane Doe", Destination = "internal" }, CancellationToken.None);
        await Assert.ThrowsAsync<GuardException>(() => broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity("nobody"), Query = "q" }, CancellationToken.None));

        var span = spans.First(s => Equals(s.GetTagItem("copilotguard.receipt_id"), result.ReceiptId));
        Assert.Equal("retrieval", span.GetTagItem("gen_ai.operation.name"));
        Assert.Equal(1, span.GetTagItem("copilotguard.chunks.returned"));
        Assert.Equal("7", span.GetTagItem("copilotguard.policy.version"));
        Assert.Equal(ActivityStatusCode.Ok, span.Status);
        Assert.DoesNotContain(span.TagObjects, static tag => tag.Value is string value && (value.Contains("Jane", StringComparison.Ordinal) || value.Contains("secret", StringComparison.Ordinal)));
        Assert.Contains(spans, static s => s.Status == ActivityStatusCode.Error && Equals(s.GetTagItem("copilotguard.refusal"), "Forbidden"));
        lock (measurements)
        {
            Assert.Contains(measurements, static m => m.Instrument == "copilotguard.retrievals");
            Assert.Contains(measurements, static m => m.Instrument == "copilotguard.chunks.released" && m.Value == 1);
        }
    }

    private sealed class OneUser(Principal user) : IEntitlementProvider
    {
        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(principalId == user.Id ? user : null);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "telemetry";
}
