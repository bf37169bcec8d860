using System.Collections.Immutable;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Identity;

/// <summary>How severe an anomaly is.</summary>
public enum AnomalySeverity
{
    /// <summary>Nothing unusual.</summary>
    None,

    /// <summary>Unusual: worth an alert.</summary>
    Low,

    /// <summary>Clearly out of pattern.</summary>
    Medium,

    /// <summary>Far out of pattern: typical of exfiltration or a compromised identity.</summary>
    High,
}

/// <summary>What CopilotGuard does when it finds an anomaly.</summary>
public enum AnomalyResponse
{
    /// <summary>Write an <c>anomaly-alert</c> audit record, log a warning and count the metric.</summary>
    Alert,

    /// <summary>Refuse the principal's requests with 429 for <see cref="AnomalyOptions.ThrottleDuration"/>.</summary>
    Throttle,

    /// <summary>Refuse requests without a specific purpose for <see cref="AnomalyOptions.NarrowPurposeDuration"/>.</summary>
    RequireNarrowerPurpose,

    /// <summary>Suspend the principal through the kill switch until an administrator resumes it.</summary>
    Suspend,
}

/// <summary>A baseline value of one metric: its mean and deviation per active bucket.</summary>
public sealed class MetricBaseline
{
    /// <summary>Gets or sets the mean.</summary>
    public double Mean { get; set; }

    /// <summary>Gets or sets the standard deviation.</summary>
    public double Deviation { get; set; }
}

/// <summary>Settings of anomaly detection.</summary>
/// <remarks>
/// Each principal has an EWMA baseline (mean and variance, smoothing <see cref="Alpha"/>) per active
/// <see cref="BucketDuration"/> of four metrics: requests, returned chunks, label-weighted volume and distinct documents.
/// During its first <see cref="LearningBuckets"/> active buckets a principal is compared with its peers (principals
/// of the same <c>department</c>, or all agents), and before peers have a baseline with <see cref="ColdStart"/>.
/// A metric is anomalous at severity S when its value in the current bucket exceeds
/// <c>mean + threshold(S) × max(deviation, MinimumDeviationFraction × mean, floor)</c> and at least
/// <see cref="MinimumVolume"/> chunks were returned. A source the principal (and, while learning, its peers) never
/// received before is a <see cref="FirstSeenSourceSeverity"/> finding.
/// </remarks>
public sealed class AnomalyOptions
{
    /// <summary>Gets or sets whether detection runs. The default is <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets the bucket a baseline describes. The default is one hour.</summary>
    public TimeSpan BucketDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the EWMA smoothing factor (0-1]. The default is 0.2.</summary>
    public double Alpha { get; set; } = 0.2;

    /// <summary>Gets or sets how many active buckets a principal needs before its own baseline is used. The default is 8.</summary>
    public int LearningBuckets { get; set; } = 8;

    /// <summary>Gets or sets the thresholds, in deviations above the mean. The defaults are Low 4, Medium 8, High 15.</summary>
    public double LowThreshold { get; set; } = 4;

    /// <summary>Gets or sets the Medium threshold.</summary>
    public double MediumThreshold { get; set; } = 8;

    /// <summary>Gets or sets the High threshold.</summary>
    public double HighThreshold { get; set; } = 15;

    /// <summary>Gets or sets the smallest deviation, as a fraction of the mean. The default is 0.5.</summary>
    public double MinimumDeviationFraction { get; set; } = 0.5;

    /// <summary>Gets or sets how many chunks a bucket must have returned before any volume finding. The default is 20.</summary>
    public int MinimumVolume { get; set; } = 20;

    /// <summary>Gets or sets the severity of a first-seen source. The default is Low.</summary>
    public AnomalySeverity FirstSeenSourceSeverity { get; set; } = AnomalySeverity.Low;

    /// <summary>Gets or sets the baseline used before the principal and its peers have one, per metric
    /// (<c>requests</c>, <c>chunks</c>, <c>weighted</c>, <c>documents</c>). The defaults describe a moderate hour.</summary>
    public IDictionary<string, MetricBaseline> ColdStart { get; set; } = new Dictionary<string, MetricBaseline>(StringComparer.Ordinal)
    {
        ["requests"] = new() { Mean = 20, Deviation = 10 },
        ["chunks"] = new() { Mean = 100, Deviation = 50 },
        ["weighted"] = new() { Mean = 200, Deviation = 100 },
        ["documents"] = new() { Mean = 50, Deviation = 25 },
    };

    /// <summary>Gets or sets the weight of one chunk per label. The default is Public 0.5, General 1, Confidential 2,
    /// Highly Confidential 4.</summary>
    public IDictionary<string, double> LabelWeights { get; set; } = RateLimitOptions.DefaultLabelWeights();

    /// <summary>Gets or sets the responses per severity; a severity not listed keeps its default. The defaults are
    /// Low and Medium: alert; High: alert and throttle. Automatic suspension is opt-in (e.g. <c>Responses:High:0=Alert</c>
    /// and <c>Responses:High:1=Suspend</c>), because only an administrator lifts it.</summary>
    public IDictionary<AnomalySeverity, IList<AnomalyResponse>> Responses { get; set; } = new Dictionary<AnomalySeverity, IList<AnomalyResponse>>();

    /// <summary>Gets or sets how long a throttle lasts. The default is 15 minutes.</summary>
    public TimeSpan ThrottleDuration { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Gets or sets how long a principal must declare a specific purpose. The default is one hour.</summary>
    public TimeSpan NarrowPurposeDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets the responses configured for a severity, or its default.</summary>
    public IReadOnlyList<AnomalyResponse> ResponsesFor(AnomalySeverity severity) =>
        Responses.TryGetValue(severity, out var configured) ? [.. configured.Distinct()]
        : severity switch
        {
            AnomalySeverity.High => [AnomalyResponse.Alert, AnomalyResponse.Throttle],
            AnomalySeverity.None => [],
            _ => [AnomalyResponse.Alert],
        };

    /// <summary>Gets or sets purposes that count as not specific. The default is <c>general</c> and <c>any</c>.</summary>
    public IList<string> BroadPurposes { get; set; } = ["general", "any"];
}

/// <summary>Validates <see cref="AnomalyOptions"/>, reporting every problem at once.</summary>
public sealed class AnomalyOptionsValidator : IValidateOptions<AnomalyOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, AnomalyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.BucketDuration < TimeSpan.FromMinutes(1) || options.BucketDuration > TimeSpan.FromDays(7))
        {
            errors.Add($"Anomaly:BucketDuration must be between 1 minute and 7 days, not {options.BucketDuration}.");
        }

        if (!(options.Alpha > 0 && options.Alpha <= 1))
        {
            errors.Add("Anomaly:Alpha must be in (0, 1].");
        }

        if (options.LearningBuckets < 1)
        {
            errors.Add("Anomaly:LearningBuckets must be at least 1.");
        }

        if (!(options.LowThreshold > 0 && options.LowThreshold < options.MediumThreshold && options.MediumThreshold < options.HighThreshold && double.IsFinite(options.HighThreshold)))
        {
            errors.Add("Anomaly thresholds must satisfy 0 < LowThreshold < MediumThreshold < HighThreshold.");
        }

        if (!(options.MinimumDeviationFraction >= 0 && double.IsFinite(options.MinimumDeviationFraction)))
        {
            errors.Add("Anomaly:MinimumDeviationFraction must be a finite number >= 0.");
        }

        if (options.MinimumVolume < 0)
        {
            errors.Add("Anomaly:MinimumVolume must be >= 0.");
        }

        foreach (var metric in AnomalyDetector.Metrics)
        {
            if (!options.ColdStart.TryGetValue(metric, out var baseline) || !(baseline.Mean >= 0 && baseline.Deviation > 0 && double.IsFinite(baseline.Mean + baseline.Deviation)))
            {
                errors.Add($"Anomaly:ColdStart:{metric} needs Mean >= 0 and Deviation > 0.");
            }
        }

        foreach (var (label, weight) in options.LabelWeights)
        {
            if (!(weight >= 0 && double.IsFinite(weight)))
            {
                errors.Add($"Anomaly:LabelWeights:{label} must be a finite number >= 0.");
            }
        }

        if (options.Responses.ContainsKey(AnomalySeverity.None))
        {
            errors.Add("Anomaly:Responses cannot configure severity None.");
        }

        if (options.ThrottleDuration <= TimeSpan.Zero || options.NarrowPurposeDuration <= TimeSpan.Zero)
        {
            errors.Add("Anomaly:ThrottleDuration and NarrowPurposeDuration must be positive.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>One retrieval as the detector sees it.</summary>
/// <param name="Time">When it happened.</param>
/// <param name="PrincipalId">The principal it counts for (the user, or the agent).</param>
/// <param name="PeerGroup">The peer group (e.g. <c>department:HR</c> or <c>agents</c>), or <see langword="null"/>.</param>
/// <param name="Chunks">The returned chunks: document id, label, and source when known.</param>
public sealed record AnomalyObservation(DateTimeOffset Time, string PrincipalId, string? PeerGroup, ImmutableArray<(string DocumentId, string Label, string? Source)> Chunks);

/// <summary>Something out of pattern.</summary>
/// <param name="PrincipalId">Whose behaviour it is.</param>
/// <param name="Severity">How far out of pattern.</param>
/// <param name="Metric">The metric: <c>requests</c>, <c>chunks</c>, <c>weighted</c>, <c>documents</c> or <c>first-seen-source</c>.</param>
/// <param name="Value">The value in the current bucket (for a source, the count of new sources).</param>
/// <param name="Expected">The baseline mean.</param>
/// <param name="Baseline">Which baseline was used: <c>own</c>, <c>peer:GROUP</c> or <c>cold-start</c>.</param>
/// <param name="Detail">A sentence for alerts and logs.</param>
/// <param name="Time">When it was found.</param>
public sealed record AnomalyFinding(string PrincipalId, AnomalySeverity Severity, string Metric, double Value, double Expected, string Baseline, string Detail, DateTimeOffset Time);

/// <summary>Learns per-principal baselines of retrieval behaviour and reports what falls out of them.</summary>
/// <remarks>Deterministic and free of I/O, so past audit records can be replayed through it. Thread-safe.
/// Reports a principal at most once per severity per bucket.</remarks>
public sealed class AnomalyDetector
{
    /// <summary>The metrics of a bucket.</summary>
    public static readonly ImmutableArray<string> Metrics = ["requests", "chunks", "weighted", "documents"];

    private readonly AnomalyOptions _options;
    private readonly Dictionary<string, PrincipalState> _principals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PeerState> _peers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Creates a detector.</summary>
    public AnomalyDetector(AnomalyOptions options) => _options = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>Gets the options.</summary>
    public AnomalyOptions Options => _options;

    /// <summary>Observes one retrieval and returns the findings it raises (empty when nothing is unusual).</summary>
    public IReadOnlyList<AnomalyFinding> Observe(AnomalyObservation observation)
    {
        ArgumentNullException.ThrowIfNull(observation);
        if (!_options.Enabled)
        {
            return [];
        }

        var bucket = observation.Time.UtcTicks / _options.BucketDuration.Ticks;
        lock (_lock)
        {
            var state = GetState(observation.PrincipalId, observation.PeerGroup);
            if (state.Bucket != bucket)
            {
                Close(state);
                state.Bucket = bucket;
            }

            var current = state.Current;
            current.Requests++;
            foreach (var (documentId, label, _) in observation.Chunks)
            {
                current.Chunks++;
                current.Weighted += _options.LabelWeights.TryGetValue(label, out var weight) ? weight : _options.LabelWeights.Values.DefaultIfEmpty(1).Max();
                current.Documents.Add(documentId);
            }

            var findings = new List<AnomalyFinding>();
            var (baselines, source) = BaselineFor(state);
            if (current.Chunks >= _options.MinimumVolume)
            {
                foreach (var metric in Metrics)
                {
                    var value = current.Value(metric);
                    var baseline = baselines[metric];
                    var deviation = Math.Max(baseline.Deviation, Math.Max(_options.MinimumDeviationFraction * baseline.Mean, _options.ColdStart[metric].Deviation * 0.1));
                    var score = (value - baseline.Mean) / deviation;
                    var severity = score >= _options.HighThreshold ? AnomalySeverity.High
                        : score >= _options.MediumThreshold ? AnomalySeverity.Medium
                        : score >= _options.LowThreshold ? AnomalySeverity.Low
                        : AnomalySeverity.None;
                    if (severity > state.Reported.GetValueOrDefault(metric))
                    {
                        state.Reported[metric] = severity;
                        findings.Add(new AnomalyFinding(
                            state.Id, severity, metric, value, baseline.Mean, source,
                            $"{metric} {value:0.#} in this bucket against a {source} baseline of {baseline.Mean:0.#} ± {deviation:0.#} ({score:0.#} deviations)",
                            observation.Time));
                    }
                }
            }

            // After learning, any new source is news; while learning, only a source an established peer group never
            // received is; with neither (cold start) there is nothing to compare with.
            var learning = state.ClosedBuckets < _options.LearningBuckets;
            var peer = state.PeerGroup is not null && _peers.TryGetValue(state.PeerGroup, out var p) && p.ClosedBuckets >= _options.LearningBuckets ? p : null;
            foreach (var newSource in observation.Chunks.Select(static c => c.Source).OfType<string>().Distinct(StringComparer.Ordinal).Where(s => !state.Sources.Contains(s)).ToList())
            {
                var news = learning ? peer is not null && !peer.Sources.Contains(newSource) : true;
                if (news && _options.FirstSeenSourceSeverity != AnomalySeverity.None)
                {
                    findings.Add(new AnomalyFinding(
                        state.Id, _options.FirstSeenSourceSeverity, "first-seen-source", 1, 0, learning ? "peer:" + state.PeerGroup : "own",
                        $"first retrieval from source '{newSource}'", observation.Time));
                }

                state.Sources.Add(newSource);
                if (state.PeerGroup is not null)
                {
                    GetPeer(state.PeerGroup).Sources.Add(newSource);
                }
            }

            return findings;
        }
    }

    private (IReadOnlyDictionary<string, MetricBaseline> Baselines, string Source) BaselineFor(PrincipalState state)
    {
        if (state.ClosedBuckets >= _options.LearningBuckets)
        {
            return (state.Baselines, "own");
        }

        if (state.PeerGroup is not null && _peers.TryGetValue(state.PeerGroup, out var peer) && peer.ClosedBuckets >= _options.LearningBuckets)
        {
            return (peer.Baselines, "peer:" + state.PeerGroup);
        }

        return ((IReadOnlyDictionary<string, MetricBaseline>)_options.ColdStart, "cold-start");
    }

    private void Close(PrincipalState state)
    {
        if (state.Bucket is null)
        {
            return;
        }

        Fold(state.Baselines, state.Current, state.ClosedBuckets);
        state.ClosedBuckets++;
        if (state.PeerGroup is not null)
        {
            var peer = GetPeer(state.PeerGroup);
            Fold(peer.Baselines, state.Current, peer.ClosedBuckets);
            peer.ClosedBuckets++;
        }

        state.Current = new BucketTotals();
        state.Reported.Clear();
    }

    private void Fold(Dictionary<string, MetricBaseline> baselines, BucketTotals totals, int closed)
    {
        foreach (var metric in Metrics)
        {
            var value = totals.Value(metric);
            if (!baselines.TryGetValue(metric, out var baseline) || closed == 0)
            {
                baselines[metric] = new MetricBaseline { Mean = value, Deviation = 0 };
                continue;
            }

            var difference = value - baseline.Mean;
            var variance = (1 - _options.Alpha) * ((baseline.Deviation * baseline.Deviation) + (_options.Alpha * difference * difference));
            baseline.Mean += _options.Alpha * difference;
            baseline.Deviation = Math.Sqrt(variance);
        }
    }

    private PrincipalState GetState(string id, string? peerGroup)
    {
        if (!_principals.TryGetValue(id, out var state))
        {
            state = new PrincipalState(id);
            _principals[id] = state;
        }

        state.PeerGroup = peerGroup ?? state.PeerGroup;
        return state;
    }

    private PeerState GetPeer(string group)
    {
        if (!_peers.TryGetValue(group, out var peer))
        {
            peer = new PeerState();
            _peers[group] = peer;
        }

        return peer;
    }

    private sealed class BucketTotals
    {
        public double Requests;
        public double Chunks;
        public double Weighted;

        public HashSet<string> Documents { get; } = new(StringComparer.Ordinal);

        public double Value(string metric) => metric switch
        {
            "requests" => Requests,
            "chunks" => Chunks,
            "weighted" => Weighted,
            _ => Documents.Count,
        };
    }

    private sealed class PrincipalState(string id)
    {
        public string Id { get; } = id;

        public string? PeerGroup { get; set; }

        public long? Bucket { get; set; }

        public int ClosedBuckets { get; set; }

        public BucketTotals Current { get; set; } = new();

        public Dictionary<string, MetricBaseline> Baselines { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, AnomalySeverity> Reported { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Sources { get; } = new(StringComparer.Ordinal);
    }

    private sealed class PeerState
    {
        public int ClosedBuckets { get; set; }

        public Dictionary<string, MetricBaseline> Baselines { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Sources { get; } = new(StringComparer.Ordinal);
    }
}
