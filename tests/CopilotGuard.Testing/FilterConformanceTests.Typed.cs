using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Retrieval;
using Xunit;
using Op = CopilotGuard.Filtering.ComparisonOperator;

namespace CopilotGuard.Testing;

/// <summary>Typed and mixed-kind cases (issue 15): a comparison across kinds is undecided, so neither a leaf nor its
/// negation (<c>!</c>, <c>!=</c>, a deny rule) may pass on it; an empty list is a present attribute; timestamps
/// compare by their instant. Each case runs under positive, negated, <c>!=</c>-shaped and deny-rule-shaped filters on
/// reserved and ingested attributes, and a randomized case checks every store against the in-memory evaluator.</summary>
public abstract partial class FilterConformanceTests
{
    private static readonly DateTimeOffset T0 = new(2024, 3, 1, 9, 30, 0, TimeSpan.Zero);

    public static TheoryData<string> TypedCaseNames => [.. TypedCases.Keys];

    // t1..t6; every attribute below is ingested except source, label, version and subjects (reserved, fixed kinds).
    // flag: true | "true" | false | [] | [false, "false"] | missing
    // n:    5 | "5" | [5, "5"] | 7 | [] | missing
    // when: T0 | "2024-03-01T09:30:00Z" | [2023-01-01, 2025-06-30] | T0 + 1 ms | missing | missing
    // tags: ["a", "b"] | [] | ["a", 1] | ["b"] | missing | missing
    // lvl:  General (label, rank 1) | 1 (number) | [General, 1] | missing | missing | missing
    private static readonly ImmutableArray<Chunk> TypedCorpus =
    [
        Make("t1", "kb", "Public", b => b
            .Add("flag", B(true)).Add("n", N(5)).Add("when", T(T0)).Add("tags", S("a")).Add("tags", S("b")).Add("lvl", L("General"))),
        Make("t2", "hr", "General", b => b
            .Add("flag", S("true")).Add("n", S("5")).Add("when", S("2024-03-01T09:30:00Z")).Declare("tags").Add("lvl", N(1))),
        Make("t3", "kb", "Confidential", b => b
            .Add("flag", B(false)).Add("n", N(5)).Add("n", S("5")).Add("when", T(new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero)))
            .Add("when", T(new DateTimeOffset(2025, 6, 30, 0, 0, 0, TimeSpan.Zero))).Add("tags", S("a")).Add("tags", N(1)).Add("lvl", L("General")).Add("lvl", N(1))),
        Make("t4", "support", "Highly Confidential", b => b
            .Declare("flag").Add("n", N(7)).Add("when", T(T0.AddMilliseconds(1))).Add("tags", S("b"))) with { Subjects = ["s1", "s2"], Version = 2 },
        Make("t5", "5", "General", b => b.Add("flag", B(false)).Add("flag", S("false")).Declare("n")),
        Make("t6", "kb", "Public", static _ => { }) with { Subjects = ["s1"], Version = 3 },
    ];

    private static readonly Dictionary<string, (FilterNode Filter, string[] Expected)> TypedCases = new()
    {
        // Booleans against "true" strings.
        ["bool-eq"] = (Cmp("flag", Op.Equal, B(true)), ["t1"]),
        ["bool-ne-skips-string-empty-list-counts"] = (Ne("flag", B(true)), ["t3", "t4"]),
        ["bool-string-eq"] = (Cmp("flag", Op.Equal, S("true")), ["t2"]),
        ["bool-string-ne-skips-booleans"] = (Ne("flag", S("true")), ["t4"]),
        ["bool-in-both-kinds"] = (In("flag", B(true), S("true")), ["t1", "t2"]),
        ["bool-not-in-both-kinds"] = (new NotFilter(In("flag", B(true), S("true"))), ["t4"]),
        ["bool-deny-false-missing-denies"] = (Deny(Cmp("source", Op.Equal, S("kb")), Cmp("flag", Op.Equal, B(false))), ["t1"]),
        ["bool-deny-true-string-does-not-fail-open"] = (Deny(Cmp("source", Op.Equal, S("hr")), Cmp("flag", Op.Equal, B(true))), []),
        ["bool-order-is-undecided"] = (new NotFilter(Cmp("flag", Op.GreaterThan, B(false))), ["t4"]),
        ["bool-double-negation"] = (new NotFilter(new NotFilter(Cmp("flag", Op.Equal, B(true)))), ["t1"]),

        // Numbers against numeric strings.
        ["num-eq"] = (Cmp("n", Op.Equal, N(5)), ["t1", "t3"]),
        ["num-ne"] = (Ne("n", N(5)), ["t4", "t5"]),
        ["num-string-eq"] = (Cmp("n", Op.Equal, S("5")), ["t2", "t3"]),
        ["num-string-ne"] = (Ne("n", S("5")), ["t5"]),
        ["num-gt"] = (Cmp("n", Op.GreaterThan, N(5)), ["t4"]),
        ["num-not-gt"] = (new NotFilter(Cmp("n", Op.GreaterThan, N(5))), ["t1", "t5"]),
        ["num-order-on-string-constant"] = (Cmp("n", Op.GreaterThan, S("4")), []),
        ["num-not-order-on-string-constant"] = (new NotFilter(Cmp("n", Op.GreaterThan, S("4"))), ["t5"]),
        ["num-in"] = (In("n", N(5), N(7)), ["t1", "t3", "t4"]),
        ["num-not-in-numbers-skips-string"] = (new NotFilter(In("n", N(5), N(7))), ["t5"]),
        ["num-not-in-mixed-kinds"] = (new NotFilter(In("n", N(5), S("5"))), ["t5"]),
        ["num-in-empty"] = (In("n"), []),
        ["num-not-in-empty-is-present"] = (new NotFilter(In("n")), ["t1", "t2", "t3", "t4", "t5"]),
        ["num-deny-shaped"] = (Deny(new HasFilter("n"), Cmp("n", Op.Equal, N(7))), ["t1", "t5"]),

        // Labels against numbers of the same rank.
        ["lvl-eq-label"] = (Cmp("lvl", Op.Equal, L("General")), ["t1", "t3"]),
        ["lvl-eq-number"] = (Cmp("lvl", Op.Equal, N(1)), ["t2", "t3"]),
        ["lvl-ne-number"] = (Ne("lvl", N(1)), []),
        ["lvl-ne-label"] = (Ne("lvl", L("General")), []),
        ["lvl-lt-number"] = (Cmp("lvl", Op.LessThan, N(2)), ["t2", "t3"]),
        ["lvl-not-lt-number"] = (new NotFilter(Cmp("lvl", Op.LessThan, N(2))), []),
        ["lvl-ge-label"] = (Cmp("lvl", Op.GreaterThanOrEqual, L("General")), ["t1", "t3"]),
        ["label-eq-number-rank"] = (Cmp("label", Op.Equal, N(1)), []),
        ["label-ne-number-rank"] = (Ne("label", N(1)), []),
        ["label-le-number"] = (Cmp("label", Op.LessThanOrEqual, N(1)), []),
        ["label-not-le-number"] = (new NotFilter(Cmp("label", Op.LessThanOrEqual, N(1))), []),
        ["label-in-mixed"] = (In("label", N(0), L("General")), ["t2", "t5"]),
        ["label-not-in-labels"] = (new NotFilter(In("label", L("Public"), L("General"))), ["t3", "t4"]),
        ["label-not-in-mixed"] = (new NotFilter(In("label", L("Public"), N(1))), []),
        ["label-deny-number-does-not-fail-open"] = (Deny(FilterNode.True, Cmp("label", Op.GreaterThan, N(1))), []),

        // Reserved strings, number and subjects against other kinds.
        ["source-eq-number"] = (Cmp("source", Op.Equal, N(5)), []),
        ["source-ne-number"] = (Ne("source", N(5)), []),
        ["source-eq-numeric-string"] = (Cmp("source", Op.Equal, S("5")), ["t5"]),
        ["source-ne-numeric-string"] = (Ne("source", S("5")), ["t1", "t2", "t3", "t4", "t6"]),
        ["source-in-mixed"] = (In("source", S("5"), N(5)), ["t5"]),
        ["source-not-in-mixed"] = (new NotFilter(In("source", S("5"), N(5))), []),
        ["source-order"] = (Cmp("source", Op.GreaterThan, S("a")), []),
        ["source-not-order"] = (new NotFilter(Cmp("source", Op.GreaterThan, S("a"))), []),
        ["id-ne-boolean"] = (Ne("id", B(true)), []),
        ["version-eq-boolean"] = (Cmp("version", Op.Equal, B(true)), []),
        ["version-ne-boolean"] = (Ne("version", B(true)), []),
        ["version-ne-string"] = (Ne("version", S("1")), []),
        ["version-ge"] = (Cmp("version", Op.GreaterThanOrEqual, N(2)), ["t4", "t6"]),
        ["version-not-ge"] = (new NotFilter(Cmp("version", Op.GreaterThanOrEqual, N(2))), ["t1", "t2", "t3", "t5"]),
        ["version-not-ge-label"] = (new NotFilter(Cmp("version", Op.GreaterThanOrEqual, L("General"))), []),
        ["subjects-eq"] = (Cmp("subjects", Op.Equal, S("s1")), ["t4", "t6"]),
        ["subjects-ne-missing-excluded"] = (Ne("subjects", S("s3")), ["t4", "t6"]),
        ["subjects-ne-number"] = (Ne("subjects", N(1)), []),
        ["subjects-in-mixed"] = (In("subjects", S("s2"), N(2)), ["t4"]),
        ["subjects-not-in"] = (new NotFilter(In("subjects", S("s2"))), ["t6"]),
        ["subjects-not-in-mixed"] = (new NotFilter(In("subjects", S("s3"), N(2))), []),

        // Timestamps: ordering, equality, against strings and numbers.
        ["ts-eq"] = (Cmp("when", Op.Equal, T(T0)), ["t1"]),
        ["ts-ne"] = (Ne("when", T(T0)), ["t3", "t4"]),
        ["ts-string-eq"] = (Cmp("when", Op.Equal, S("2024-03-01T09:30:00Z")), ["t2"]),
        ["ts-string-ne"] = (Ne("when", S("2024-03-01T09:30:00Z")), []),
        ["ts-gt"] = (Cmp("when", Op.GreaterThan, T(T0)), ["t3", "t4"]),
        ["ts-lt"] = (Cmp("when", Op.LessThan, T(T0)), ["t3"]),
        ["ts-not-le"] = (new NotFilter(Cmp("when", Op.LessThanOrEqual, T(T0))), ["t4"]),
        ["ts-ge-millisecond"] = (Cmp("when", Op.GreaterThanOrEqual, T(T0.AddMilliseconds(1))), ["t3", "t4"]),
        ["ts-gt-number"] = (Cmp("when", Op.GreaterThan, N(0)), []),
        ["ts-not-gt-number"] = (new NotFilter(Cmp("when", Op.GreaterThan, N(0))), []),
        ["ts-in-both-kinds"] = (In("when", T(T0), S("2024-03-01T09:30:00Z")), ["t1", "t2"]),
        ["ts-deny-shaped"] = (Deny(new HasFilter("when"), Cmp("when", Op.LessThan, T(T0))), ["t1", "t4"]),

        // Mixed-kind lists and empty lists.
        ["tags-eq"] = (Cmp("tags", Op.Equal, S("a")), ["t1", "t3"]),
        ["tags-ne-empty-list-passes"] = (Ne("tags", S("a")), ["t2", "t4"]),
        ["tags-ne-mixed-list-undecided"] = (Ne("tags", S("b")), ["t2"]),
        ["tags-eq-number"] = (Cmp("tags", Op.Equal, N(1)), ["t3"]),
        ["tags-ne-number"] = (Ne("tags", N(1)), ["t2"]),
        ["tags-has-empty-list"] = (new HasFilter("tags"), ["t1", "t2", "t3", "t4"]),
        ["tags-not-has"] = (new NotFilter(new HasFilter("tags")), ["t5", "t6"]),
        ["flag-has-empty-list"] = (new HasFilter("flag"), ["t1", "t2", "t3", "t4", "t5"]),
        ["tags-starts-with-empty"] = (new StartsWithFilter("tags", string.Empty), ["t1", "t3", "t4"]),
        ["tags-not-starts-with-empty"] = (new NotFilter(new StartsWithFilter("tags", string.Empty)), ["t2"]),
        ["tags-not-starts-with"] = (new NotFilter(new StartsWithFilter("tags", "z")), ["t1", "t2", "t4"]),
        ["tags-not-in-empty"] = (new NotFilter(In("tags")), ["t1", "t2", "t3", "t4"]),
        ["tags-not-in-strings"] = (new NotFilter(In("tags", S("z"))), ["t1", "t2", "t4"]),
        ["tags-not-in-mixed"] = (new NotFilter(In("tags", S("z"), N(2))), ["t2"]),
        ["tags-not-gt-number"] = (new NotFilter(Cmp("tags", Op.GreaterThan, N(0))), ["t2"]),
        ["tags-empty-string-never-matches-empty-list"] = (Cmp("tags", Op.Equal, S(string.Empty)), []),

        // Missing attributes and compositions.
        ["missing-eq"] = (Cmp("nowhere", Op.Equal, B(true)), []),
        ["missing-ne"] = (Ne("nowhere", B(true)), []),
        ["missing-deny"] = (Deny(FilterNode.True, Cmp("nowhere", Op.Equal, N(1))), []),
        ["or-of-negations"] = (new OrFilter([Ne("flag", B(true)), Ne("n", N(5))]), ["t3", "t4", "t5"]),
        ["not-and-of-mixed"] = (new NotFilter(new AndFilter([Cmp("flag", Op.Equal, B(true)), Cmp("n", Op.Equal, N(5))])), ["t3", "t4", "t5"]),
    };

    [Theory]
    [MemberData(nameof(TypedCaseNames))]
    public async Task Search_TypedFilterCase_ReturnsExactlyTheExpectedChunks(string name)
    {
        var (filter, expected) = TypedCases[name];
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync([.. TypedCorpus.Select(static (chunk, i) => new StoredChunk(chunk, Vector(i)))], CancellationToken.None);

        var result = await store.SearchAsync(new ChunkQuery(Vector(0), filter, Top: 100), CancellationToken.None);

        Assert.Equal(expected, TypedCorpus.Where(c => FilterEvaluator.Matches(filter, c.ResourceAttributes)).Select(static c => c.Id).ToArray());
        Assert.Equal(expected, result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task Search_TypedChunksRoundTrip_WithTimestampsMixedKindsAndEmptyLists()
    {
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync([.. TypedCorpus.Select(static (chunk, i) => new StoredChunk(chunk, Vector(i)))], CancellationToken.None);

        foreach (var chunk in TypedCorpus)
        {
            var loaded = await store.GetAsync(chunk.Id, CancellationToken.None);

            Assert.NotNull(loaded);
            Assert.Equal(Describe(chunk.ResourceAttributes), Describe(loaded.ResourceAttributes));
        }
    }

    [Fact]
    public async Task Search_RandomTypedFilters_MatchTheInMemoryEvaluator()
    {
        // 48 random chunks (mixed kinds, empty lists, missing attributes) and 400 random filters (leaves, negations,
        // and/or up to depth 3) over ingested and reserved attributes: the store must return exactly what the
        // reference evaluator passes.
        var random = new Random(150015);
        var corpus = Enumerable.Range(0, 48).Select(i => RandomChunk(random, i)).ToImmutableArray();
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync([.. corpus.Select(static (chunk, i) => new StoredChunk(chunk, Vector(i)))], CancellationToken.None);

        var failures = new List<string>();
        for (var i = 0; i < 400 && failures.Count < 5; i++)
        {
            var filter = RandomFilter(random, depth: random.Next(4));
            var expected = corpus.Where(c => FilterEvaluator.Matches(filter, c.ResourceAttributes)).Select(static c => c.Id).Order(StringComparer.Ordinal).ToArray();
            var result = await store.SearchAsync(new ChunkQuery(Vector(0), filter, Top: 100), CancellationToken.None);
            var actual = result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal).ToArray();
            if (!expected.SequenceEqual(actual))
            {
                var extra = actual.Except(expected).ToArray();
                var missing = expected.Except(actual).ToArray();
                failures.Add($"#{i} {FilterFormatter.Format(filter)}: unexpected [{string.Join(", ", extra.Select(id => $"{id} {Describe(corpus.Single(c => c.Id == id).ResourceAttributes)}"))}], "
                    + $"missing [{string.Join(", ", missing.Select(id => $"{id} {Describe(corpus.Single(c => c.Id == id).ResourceAttributes)}"))}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static readonly string[] RandomNames = ["a", "b", "c"];

    private static readonly string[] RandomFilterNames = ["a", "b", "c", "nowhere", "source", "label", "version", "subjects"];

    private static readonly ImmutableArray<AttributeValue> RandomValues =
    [
        S("1"), S("5"), S("true"), S("x"), S("xy"), S(string.Empty), S("General"), S("2024-03-01T09:30:00Z"),
        N(0), N(1), N(5), N(1.5), B(true), B(false),
        L("Public"), L("General"), L("Confidential"),
        T(T0), T(T0.AddMilliseconds(1)), T(T0.AddDays(-1)),
    ];

    private static readonly string[] RandomSources = ["kb", "5", "true", "hr"];

    private static readonly string[] RandomLabels = ["Public", "General", "Confidential", "Highly Confidential"];

    private static Chunk RandomChunk(Random random, int i)
    {
        var chunk = Make($"r{i:D2}", RandomSources[random.Next(RandomSources.Length)], RandomLabels[random.Next(RandomLabels.Length)], b =>
        {
            foreach (var name in RandomNames)
            {
                switch (random.Next(5))
                {
                    case 0:
                        break; // missing
                    case 1:
                        b.Declare(name); // empty list
                        break;
                    default:
                        var count = random.Next(1, 4);
                        for (var k = 0; k < count; k++)
                        {
                            b.Add(name, RandomValues[random.Next(RandomValues.Length)]);
                        }

                        break;
                }
            }
        });
        return chunk with
        {
            Version = random.Next(1, 4),
            Subjects = random.Next(3) == 0 ? [] : [.. Enumerable.Range(0, random.Next(1, 3)).Select(_ => random.Next(2) == 0 ? "1" : "x")],
        };
    }

    private static FilterNode RandomFilter(Random random, int depth)
    {
        if (depth > 0 && random.Next(3) > 0)
        {
            var operands = Enumerable.Range(0, random.Next(2, 4)).Select(_ => RandomFilter(random, depth - 1)).ToImmutableArray();
            return random.Next(3) switch
            {
                0 => new AndFilter(operands),
                1 => new OrFilter(operands),
                _ => new NotFilter(new AndFilter(operands)),
            };
        }

        var attribute = RandomFilterNames[random.Next(RandomFilterNames.Length)];
        FilterNode leaf = random.Next(10) switch
        {
            < 5 => new ComparisonFilter(attribute, (ComparisonOperator)random.Next(5), RandomConstant(random, attribute)),
            < 8 => new InFilter(attribute, [.. Enumerable.Range(0, random.Next(4)).Select(_ => RandomConstant(random, attribute))]),
            8 => new HasFilter(attribute),
            _ => new StartsWithFilter(attribute, random.Next(3) switch { 0 => string.Empty, 1 => "x", _ => "1" }),
        };
        return random.Next(2) == 0 ? new NotFilter(leaf) : leaf;
    }

    private static AttributeValue RandomConstant(Random random, string attribute) => attribute switch
    {
        // The reserved attributes' own values and kinds, so both polarities are decided often enough to matter.
        "source" when random.Next(2) == 0 => S(RandomSources[random.Next(RandomSources.Length)]),
        "label" when random.Next(2) == 0 => L(RandomLabels[random.Next(RandomLabels.Length)]),
        "version" when random.Next(2) == 0 => N(random.Next(0, 5)),
        _ => RandomValues[random.Next(RandomValues.Length)],
    };

    private static string Describe(AttributeSet attributes) =>
        string.Join("; ", attributes.OrderBy(static pair => pair.Key, StringComparer.Ordinal)
            .Select(static pair => pair.Key + "=[" + string.Join(", ", pair.Value.Select(static v => $"{v.Kind}:{v.Text}:{v.Number.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}").Order(StringComparer.Ordinal)) + "]"));

    private static ComparisonFilter Cmp(string attribute, ComparisonOperator op, AttributeValue value) => new(attribute, op, value);

    /// <summary>The <c>!=</c> shape: <c>x != v</c> is the negation of <c>x == v</c>.</summary>
    private static NotFilter Ne(string attribute, AttributeValue value) => new(Cmp(attribute, Op.Equal, value));

    /// <summary>The deny-rule shape: an allow condition and the negation of a deny condition.</summary>
    private static AndFilter Deny(FilterNode allow, FilterNode deny) => new([allow, new NotFilter(deny)]);

    private static InFilter In(string attribute, params AttributeValue[] values) => new(attribute, [.. values]);

    private static AttributeValue S(string value) => AttributeValue.FromString(value);

    private static AttributeValue N(double value) => AttributeValue.FromNumber(value);

    private static AttributeValue B(bool value) => AttributeValue.FromBoolean(value);

    private static AttributeValue L(string label) => Labels.Get(label).ToAttributeValue();

    private static AttributeValue T(DateTimeOffset value) => AttributeValue.FromTimestamp(value);
}
