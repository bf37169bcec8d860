using System.Collections.Immutable;
using CopilotGuard.Labels;

namespace CopilotGuard.Audit;

/// <summary>How long a retention class keeps records: a calendar period (years, months, days and a time of day), or forever.</summary>
public sealed record AuditRetentionPeriod
{
    private AuditRetentionPeriod(int years, int months, int days, TimeSpan time, bool forever, string text)
    {
        Years = years;
        Months = months;
        Days = days;
        Time = time;
        IsForever = forever;
        Text = text;
    }

    /// <summary>Gets the period that never ends: records of its class never expire.</summary>
    public static AuditRetentionPeriod Forever { get; } = new(0, 0, 0, TimeSpan.Zero, forever: true, "forever");

    /// <summary>Gets the whole years.</summary>
    public int Years { get; }

    /// <summary>Gets the months on top of the years.</summary>
    public int Months { get; }

    /// <summary>Gets the days on top of the months.</summary>
    public int Days { get; }

    /// <summary>Gets the time on top of the days.</summary>
    public TimeSpan Time { get; }

    /// <summary>Gets whether records are kept forever.</summary>
    public bool IsForever { get; }

    /// <summary>Gets the period as written in the retention file (e.g. <c>P400D</c>, <c>7y</c>).</summary>
    public string Text { get; }

    /// <summary>Creates a finite period.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A part is negative or too large, or the period is empty.</exception>
    public static AuditRetentionPeriod Create(int years, int months, int days, TimeSpan time, string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        ArgumentOutOfRangeException.ThrowIfNegative(years);
        ArgumentOutOfRangeException.ThrowIfNegative(months);
        ArgumentOutOfRangeException.ThrowIfNegative(days);
        ArgumentOutOfRangeException.ThrowIfLessThan(time, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(years, 1000);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(months, 12_000);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(days, 366_000);
        if (years == 0 && months == 0 && days == 0 && time == TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(text), text, "A retention period must be longer than zero.");
        }

        return new AuditRetentionPeriod(years, months, days, time, forever: false, text);
    }

    /// <summary>Computes the cutoff at <paramref name="now"/>: records decided before it have been kept for the whole period.</summary>
    /// <returns>The cutoff, or <see langword="null"/> when nothing can have been kept that long (or the period is forever).</returns>
    public DateTimeOffset? CutoffAt(DateTimeOffset now)
    {
        if (IsForever)
        {
            return null;
        }

        try
        {
            return now.AddYears(-Years).AddMonths(-Months).AddDays(-Days).Subtract(Time);
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}

/// <summary>One retention class: which records it covers and how long it keeps them.</summary>
/// <remarks>A class covers a record when every criterion it declares matches (any listed value matches a criterion).
/// Without <see cref="Kinds"/> a class covers <c>retrieval</c> records only; answers, compliance queries and administrative
/// records follow the default unless a class names their kind.</remarks>
public sealed record AuditRetentionClass
{
    /// <summary>Gets the class name, reported in retention records.</summary>
    public required string Name { get; init; }

    /// <summary>Gets how long the class keeps records.</summary>
    public required AuditRetentionPeriod MaxAge { get; init; }

    /// <summary>Gets the declared purposes covered (exact, case-sensitive); empty for any purpose.</summary>
    public ImmutableArray<string> Purposes { get; init; } = [];

    /// <summary>Gets the labels covered (with their sublabels); matched against a retrieval's highest returned label. Empty for any label.</summary>
    public ImmutableArray<string> Labels { get; init; } = [];

    /// <summary>Gets the record kinds covered; empty for <c>retrieval</c> only.</summary>
    public ImmutableArray<string> Kinds { get; init; } = [];
}

/// <summary>The retention rules of an audit log: classes by purpose, label and record kind, plus a default.</summary>
/// <remarks>When several classes cover a record the longest retention wins, so no record is deleted earlier than any
/// applicable rule demands; the default applies only when no class covers a record. Retention records and tombstones
/// never expire. A retrieval that returned a label unknown to <see cref="Taxonomy"/> is held (never expired) whenever a
/// label rule could apply to it.</remarks>
public sealed record AuditRetentionPolicy
{
    /// <summary>The class name reported for records no class covers.</summary>
    public const string DefaultClass = "default";

    /// <summary>The class name reported for records held because a returned label is not in the taxonomy.</summary>
    public const string HeldClass = "held";

    /// <summary>Gets the classes, in file order.</summary>
    public required ImmutableArray<AuditRetentionClass> Classes { get; init; }

    /// <summary>Gets how long records no class covers are kept.</summary>
    public required AuditRetentionPeriod Default { get; init; }

    /// <summary>Gets the SHA-256 of the retention file (lowercase hex), recorded with every run.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Gets the retention file name, recorded with every run.</summary>
    public required string Source { get; init; }

    /// <summary>Gets the label taxonomy that orders returned labels.</summary>
    public required LabelTaxonomy Taxonomy { get; init; }

    /// <summary>Fixes every class's cutoff at <paramref name="now"/>.</summary>
    public AuditRetentionSchedule At(DateTimeOffset now) => new(this, now);
}

/// <summary>A retention policy with its cutoffs fixed at one instant; classifies records.</summary>
public sealed class AuditRetentionSchedule
{
    private readonly AuditRetentionPolicy _policy;
    private readonly DateTimeOffset?[] _cutoffs;

    internal AuditRetentionSchedule(AuditRetentionPolicy policy, DateTimeOffset now)
    {
        _policy = policy;
        Now = now;
        _cutoffs = [.. policy.Classes.Select(c => c.MaxAge.CutoffAt(now))];
        DefaultCutoff = policy.Default.CutoffAt(now);
    }

    /// <summary>Gets the instant the cutoffs were computed at.</summary>
    public DateTimeOffset Now { get; }

    /// <summary>Gets the default class's cutoff (<see langword="null"/>: never).</summary>
    public DateTimeOffset? DefaultCutoff { get; }

    /// <summary>Gets the cutoff of the class at <paramref name="index"/> in <see cref="AuditRetentionPolicy.Classes"/>.</summary>
    public DateTimeOffset? CutoffOf(int index) => _cutoffs[index];

    /// <summary>Decides which class governs a record and whether it has expired.</summary>
    public AuditRetentionVerdict Classify(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Kind is AuditRecordKinds.Retention or AuditRecordKinds.Expired)
        {
            return new AuditRetentionVerdict(record.Kind, null, false);
        }

        List<SensitivityLabel>? top = null;
        var unknownLabel = false;
        var matched = false;
        string? winner = null;
        DateTimeOffset? winnerCutoff = null;
        for (var i = 0; i < _policy.Classes.Length; i++)
        {
            var candidate = _policy.Classes[i];
            var kindMatches = candidate.Kinds.IsDefaultOrEmpty
                ? record.Kind == AuditRecordKinds.Retrieval
                : candidate.Kinds.Contains(record.Kind, StringComparer.Ordinal);
            if (!kindMatches || (!candidate.Purposes.IsDefaultOrEmpty && (record.Purpose is null || !candidate.Purposes.Contains(record.Purpose, StringComparer.Ordinal))))
            {
                continue;
            }

            if (!candidate.Labels.IsDefaultOrEmpty)
            {
                top ??= HighestLabels(record, out unknownLabel);
                if (unknownLabel)
                {
                    return new AuditRetentionVerdict(AuditRetentionPolicy.HeldClass, null, false);
                }

                if (!top.Exists(label => candidate.Labels.Any(name => string.Equals(name, label.Name, StringComparison.OrdinalIgnoreCase) || string.Equals(name, label.Parent, StringComparison.OrdinalIgnoreCase))))
                {
                    continue;
                }
            }

            // Longest retention wins: the earliest cutoff, and "never" (null) beats every cutoff.
            var cutoff = _cutoffs[i];
            if (!matched || (winnerCutoff is not null && (cutoff is null || cutoff < winnerCutoff)))
            {
                winner = candidate.Name;
                winnerCutoff = cutoff;
            }

            matched = true;
        }

        if (!matched)
        {
            winner = AuditRetentionPolicy.DefaultClass;
            winnerCutoff = DefaultCutoff;
        }

        return new AuditRetentionVerdict(winner!, winnerCutoff, winnerCutoff is { } c && record.Time < c);
    }

    private List<SensitivityLabel> HighestLabels(AuditRecord record, out bool unknown)
    {
        unknown = false;
        var labels = new List<SensitivityLabel>();
        foreach (var chunk in record.Chunks)
        {
            if (!_policy.Taxonomy.TryGet(chunk.Label, out var label))
            {
                unknown = true;
                return labels;
            }

            labels.Add(label);
        }

        if (labels.Count == 0)
        {
            return labels;
        }

        var rank = labels.Max(static l => l.Rank);
        return labels.FindAll(l => l.Rank == rank);
    }
}

/// <summary>Which class governs a record and whether it has expired.</summary>
/// <param name="Class">The governing class (<see cref="AuditRetentionPolicy.DefaultClass"/> when none covers it).</param>
/// <param name="Cutoff">The governing cutoff; <see langword="null"/> when the record is kept forever.</param>
/// <param name="Expired">Whether the record was decided before the cutoff.</param>
public readonly record struct AuditRetentionVerdict(string Class, DateTimeOffset? Cutoff, bool Expired);
