using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Labels;

namespace CopilotGuard.Tests.Audit;

/// <summary>Differential test of retention class resolution against a deliberately naive reference.</summary>
public sealed class RetentionClassificationTests
{
    private static readonly LabelTaxonomy Taxonomy = new(
    [
        new SensitivityLabel("Public", 0),
        new SensitivityLabel("General", 1),
        new SensitivityLabel("Confidential", 2),
        new SensitivityLabel("Confidential/HR", 2) { Parent = "Confidential" },
        new SensitivityLabel("Highly Confidential", 3),
    ]);

    private static readonly string[] Purposes = ["hr", "clinical", "support", "compliance"];
    private static readonly string[] Kinds = [AuditRecordKinds.Retrieval, AuditRecordKinds.Answer, AuditRecordKinds.AuditQuery, "admin-suspend"];
    private static readonly string[] LabelNames = ["Public", "General", "Confidential", "Confidential/HR", "Highly Confidential"];

    [Fact]
    public void Classify_RandomRecordsAndRules_MatchesTheReference()
    {
        var random = new Random(20261128);
        var now = new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
        var checkedRecords = 0;
        for (var round = 0; round < 300; round++)
        {
            var policy = RandomPolicy(random);
            var schedule = policy.At(now);
            for (var i = 0; i < 40; i++)
            {
                var record = RandomRecord(random, now);
                var actual = schedule.Classify(record);
                var (expectedClass, expectedCutoff, applicable) = Reference(policy, record, now);

                Assert.Equal(expectedClass, actual.Class);
                Assert.Equal(expectedCutoff, actual.Cutoff);
                Assert.Equal(expectedCutoff is { } cutoff && record.Time < cutoff, actual.Expired);

                // Safety: an expired record is past the cutoff of every rule that applies to it.
                if (actual.Expired)
                {
                    Assert.All(applicable, a => Assert.True(a is { } c && record.Time < c));
                }

                checkedRecords++;
            }
        }

        Assert.Equal(12_000, checkedRecords);
    }

    [Fact]
    public void Classify_RetentionRecordsAndTombstones_NeverExpire()
    {
        var policy = Policy(AuditRetentionPeriod.Create(0, 0, 1, TimeSpan.Zero, "1d"), new AuditRetentionClass { Name = "all", MaxAge = AuditRetentionPeriod.Create(0, 0, 1, TimeSpan.Zero, "1d"), Kinds = [.. Kinds] });
        var old = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

        foreach (var kind in new[] { AuditRecordKinds.Retention, AuditRecordKinds.Expired })
        {
            Assert.False(policy.At(DateTimeOffset.UtcNow).Classify(Record(kind, null, old)).Expired);
        }
    }

    /// <summary>The rule as written in the docs, computed the slow way: collect every applicable cutoff, keep the earliest.</summary>
    private static (string Class, DateTimeOffset? Cutoff, List<DateTimeOffset?> Applicable) Reference(AuditRetentionPolicy policy, AuditRecord record, DateTimeOffset now)
    {
        if (record.Kind is AuditRecordKinds.Retention or AuditRecordKinds.Expired)
        {
            return (record.Kind, null, []);
        }

        var applicable = new List<(string Name, DateTimeOffset? Cutoff)>();
        foreach (var c in policy.Classes)
        {
            var kinds = c.Kinds.IsEmpty ? [AuditRecordKinds.Retrieval] : c.Kinds;
            if (!kinds.Contains(record.Kind) || (!c.Purposes.IsEmpty && !c.Purposes.Contains(record.Purpose ?? "\0")))
            {
                continue;
            }

            if (!c.Labels.IsEmpty)
            {
                if (record.Chunks.Any(ch => !LabelNames.Contains(ch.Label)))
                {
                    return (AuditRetentionPolicy.HeldClass, null, []);
                }

                var ranks = record.Chunks.Select(ch => RankOf(ch.Label)).ToList();
                var top = record.Chunks.Where(ch => ranks.Count > 0 && RankOf(ch.Label) == ranks.Max()).Select(static ch => ch.Label);
                if (!top.Any(label => c.Labels.Contains(label) || c.Labels.Contains(label.Split('/')[0])))
                {
                    continue;
                }
            }

            applicable.Add((c.Name, Cutoff(c.MaxAge, now)));
        }

        if (applicable.Count == 0)
        {
            return (AuditRetentionPolicy.DefaultClass, Cutoff(policy.Default, now), [Cutoff(policy.Default, now)]);
        }

        // Forever (null) beats any cutoff; otherwise the earliest cutoff; ties go to the class declared first.
        var winner = applicable.FirstOrDefault(static a => a.Cutoff is null);
        if (winner.Name is null)
        {
            var earliest = applicable.Min(static a => a.Cutoff!.Value);
            winner = applicable.First(a => a.Cutoff == earliest);
        }

        return (winner.Name, winner.Cutoff, [.. applicable.Select(static a => a.Cutoff)]);
    }

    private static DateTimeOffset? Cutoff(AuditRetentionPeriod period, DateTimeOffset now) =>
        period.IsForever ? null : now.AddYears(-period.Years).AddMonths(-period.Months).AddDays(-period.Days) - period.Time;

    private static int RankOf(string label) => label switch
    {
        "Public" => 0,
        "General" => 1,
        "Confidential" or "Confidential/HR" => 2,
        _ => 3,
    };

    private static AuditRetentionPolicy RandomPolicy(Random random)
    {
        var classes = new List<AuditRetentionClass>();
        for (var i = random.Next(0, 5); i > 0; i--)
        {
            var purposes = Pick(random, Purposes, random.Next(0, 3));
            var labels = Pick(random, ["Public", "General", "Confidential", "Confidential/HR", "Highly Confidential"], random.Next(0, 3));
            var kinds = Pick(random, Kinds, random.Next(0, 3));
            if (purposes.IsEmpty && labels.IsEmpty && kinds.IsEmpty)
            {
                kinds = [AuditRecordKinds.Retrieval];
            }

            classes.Add(new AuditRetentionClass { Name = $"c{i}", MaxAge = RandomPeriod(random), Purposes = purposes, Labels = labels, Kinds = kinds });
        }

        return Policy(RandomPeriod(random), [.. classes]);
    }

    private static AuditRetentionPeriod RandomPeriod(Random random) => random.Next(8) switch
    {
        0 => AuditRetentionPeriod.Forever,
        1 => AuditRetentionPeriod.Create(random.Next(1, 10), 0, 0, TimeSpan.Zero, "y"),
        2 => AuditRetentionPeriod.Create(0, random.Next(1, 30), 0, TimeSpan.Zero, "mo"),
        3 => AuditRetentionPeriod.Create(0, 1, 0, TimeSpan.Zero, "1mo"),
        4 => AuditRetentionPeriod.Create(0, 0, 30, TimeSpan.Zero, "30d"),
        _ => AuditRetentionPeriod.Create(0, 0, random.Next(1, 2000), TimeSpan.FromHours(random.Next(0, 24)), "d"),
    };

    private static AuditRecord RandomRecord(Random random, DateTimeOffset now)
    {
        var kind = Kinds[random.Next(Kinds.Length)];
        var labels = kind == AuditRecordKinds.Retrieval
            ? Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(12) == 0 ? "Secret" : LabelNames[random.Next(LabelNames.Length)]).ToArray()
            : [];
        return Record(kind, random.Next(5) == 0 ? null : Purposes[random.Next(Purposes.Length)], now.AddDays(-random.Next(0, 4000)).AddHours(-random.Next(0, 24)), labels);
    }

    private static ImmutableArray<string> Pick(Random random, string[] values, int count) =>
        [.. values.OrderBy(_ => random.Next()).Take(count)];

    private static AuditRetentionPolicy Policy(AuditRetentionPeriod defaultAge, params AuditRetentionClass[] classes) => new()
    {
        Classes = [.. classes],
        Default = defaultAge,
        Sha256 = new string('0', 64),
        Source = "test",
        Taxonomy = Taxonomy,
    };

    private static AuditRecord Record(string kind, string? purpose, DateTimeOffset time, params string[] labels) => new()
    {
        RecordId = Guid.NewGuid().ToString("N"),
        Kind = kind,
        Time = time,
        SubjectId = "bob",
        Purpose = purpose,
        PolicyVersion = "v",
        PolicyHash = new string('a', 64),
        Decision = "filtered",
        Chunks = [.. labels.Select((label, i) => new AuditedChunk { ChunkId = $"c{i}", DocumentId = "d", Version = 1, ContentSha256 = new string('b', 64), Label = label, Score = 1 })],
    };
}
