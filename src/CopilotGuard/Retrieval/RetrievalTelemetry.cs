using System.Diagnostics;
using System.Diagnostics.Metrics;
using CopilotGuard.Audit;

namespace CopilotGuard.Retrieval;

/// <summary>OpenTelemetry-compatible traces and metrics for retrievals (GenAI semantic conventions, operation
/// <c>retrieval</c>), through the BCL's <see cref="ActivitySource"/> and <see cref="Meter"/>.</summary>
/// <remarks>Spans and metrics carry ids, counts, labels and decisions only: never the query, chunk text or field values.
/// Subscribe with an OpenTelemetry SDK on the source and meter named <see cref="Name"/>.</remarks>
public static class RetrievalTelemetry
{
    /// <summary>The name of the activity source and the meter.</summary>
    public const string Name = "CopilotGuard";

    /// <summary>Gets the activity source retrieval spans come from.</summary>
    public static ActivitySource Source { get; } = new(Name);

    private static readonly Meter Meter = new(Name);
    private static readonly Counter<long> Retrievals = Meter.CreateCounter<long>("copilotguard.retrievals", description: "Retrievals by decision and outcome.");
    private static readonly Counter<long> Released = Meter.CreateCounter<long>("copilotguard.chunks.released", description: "Chunks released, by label.");
    private static readonly Counter<long> Dropped = Meter.CreateCounter<long>("copilotguard.chunks.post_filter_dropped", description: "Chunks the exact re-check dropped; pushdown_miss=true marks a store or index that returned a denied chunk.");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("copilotguard.retrieval.duration", unit: "ms", description: "Broker time per retrieval.");

    /// <summary>Starts a retrieval span for a store.</summary>
    public static Activity? Start(string store)
    {
        var activity = Source.StartActivity("retrieval " + store, ActivityKind.Internal);
        activity?.SetTag("gen_ai.operation.name", "retrieval");
        activity?.SetTag("gen_ai.data_source.id", store);
        return activity;
    }

    /// <summary>Records a completed retrieval on its span and in the metrics.</summary>
    public static void Completed(Activity? activity, AuditRecord record, double milliseconds)
    {
        ArgumentNullException.ThrowIfNull(record);
        var outcome = new TagList { { "decision", record.Decision }, { "outcome", "released" }, { "destination.external", record.Destination != "internal" } };
        Retrievals.Add(1, outcome);
        Duration.Record(milliseconds, outcome);
        foreach (var chunk in record.Chunks)
        {
            Released.Add(1, new TagList { { "label", chunk.Label } });
        }

        if (!record.PostFilterDrops.IsDefaultOrEmpty)
        {
            Dropped.Add(record.PostFilterDrops.Length, new TagList { { "pushdown_miss", record.PushdownExact } });
        }

        if (activity is null)
        {
            return;
        }

        activity.SetTag("copilotguard.receipt_id", record.RecordId);
        activity.SetTag("copilotguard.subject_id", record.SubjectId);
        activity.SetTag("copilotguard.actor_id", record.ActorId);
        activity.SetTag("copilotguard.policy.version", record.PolicyVersion);
        activity.SetTag("copilotguard.decision", record.Decision);
        activity.SetTag("copilotguard.destination", record.Destination);
        activity.SetTag("copilotguard.chunks.returned", record.Chunks.Length);
        activity.SetTag("copilotguard.chunks.post_filter_dropped", record.PostFilterDrops.Length);
        activity.SetTag("copilotguard.entities.anonymized", record.Chunks.Sum(static c => c.AnonymizedEntities?.Values.Sum() ?? 0));
        activity.SetTag("copilotguard.fields.withheld", record.Chunks.Sum(static c => c.FieldsWithheld?.Count ?? 0));
        activity.SetStatus(ActivityStatusCode.Ok);
    }

    /// <summary>Records a refused retrieval (no data released).</summary>
    public static void Refused(Activity? activity, GuardErrorKind kind)
    {
        Retrievals.Add(1, new TagList { { "decision", "refused" }, { "outcome", kind.ToString() } });
        activity?.SetTag("copilotguard.refusal", kind.ToString());
        activity?.SetStatus(ActivityStatusCode.Error, kind.ToString());
    }
}
