using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using Xunit;

namespace CopilotGuard.Testing;

/// <summary>The filter cases every store connector must pass against its real engine: equality, label ranges,
/// <c>in</c> over 5,000 values, negation, missing attributes, set overlap, prefixes, unicode and hostile values.</summary>
/// <remarks>Subclass it in a connector's test project and return a fresh, empty store.</remarks>
public abstract partial class FilterConformanceTests
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;

    /// <summary>Creates a new, empty store.</summary>
    protected abstract Task<IChunkStore> CreateStoreAsync();

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    private static readonly ImmutableArray<Chunk> Corpus =
    [
        Make("c1", "kb", "Public", b => b.Add("account", "contoso").Add("tags", "a").Add("tags", "b").Add("level", AttributeValue.FromNumber(1))),
        Make("c2", "hr", "Confidential", b => b.Add("account", "O'Brien").Add("level", AttributeValue.FromNumber(3))),
        Make("c3", "support", "Highly Confidential", b => b.Add("account", "'; DROP TABLE chunks; --").Add("tags", "日本語")),
        Make("c4", "kb", "General", b => b.Add("tags", "🙂").Add("tags", "x\"y").Add("level", AttributeValue.FromNumber(2))),
        Make("c5", "support", "General", b => b.Add("account", "ünïcødé").Add("region", "e\u0301").Add("level", AttributeValue.FromNumber(0))),
        Make("c6", "kb", "Confidential", b => b.Add("account", "$filter").Add("region", "back\\slash").Add("level", AttributeValue.FromNumber(4)).Add("flag", AttributeValue.FromBoolean(true))),
    ];

    private static readonly ImmutableArray<AttributeValue> LongList =
        [.. Enumerable.Range(0, 5000).Select(i => AttributeValue.FromString($"account-{i:D5}")).Append(AttributeValue.FromString("ünïcødé")).Append(AttributeValue.FromString("$filter"))];

    private static readonly Dictionary<string, (FilterNode Filter, string[] Expected)> Cases = new()
    {
        ["eq-plain"] = (Eq("account", "contoso"), ["c1"]),
        ["eq-single-quote"] = (Eq("account", "O'Brien"), ["c2"]),
        ["eq-sql-injection"] = (Eq("account", "'; DROP TABLE chunks; --"), ["c3"]),
        ["eq-odata-dollar"] = (Eq("account", "$filter"), ["c6"]),
        ["eq-double-quote-in-set"] = (Eq("tags", "x\"y"), ["c4"]),
        ["eq-emoji-in-set"] = (Eq("tags", "🙂"), ["c4"]),
        ["eq-backslash"] = (Eq("region", "back\\slash"), ["c6"]),
        ["eq-combining-mark-is-not-normalized"] = (Eq("region", "é"), []),
        ["eq-combining-mark-exact"] = (Eq("region", "e\u0301"), ["c5"]),
        ["eq-very-long-string"] = (Eq("account", new string('x', 10_000)), []),
        ["eq-long-string-that-looks-like-a-list"] = (Eq("account", "[" + new string('"', 600) + "]"), []),
        ["eq-injection-matches-nothing-else"] = (Eq("account", "' OR '1'='1"), []),
        ["eq-number"] = (new ComparisonFilter("level", ComparisonOperator.Equal, AttributeValue.FromNumber(3)), ["c2"]),
        ["eq-boolean"] = (new ComparisonFilter("flag", ComparisonOperator.Equal, AttributeValue.FromBoolean(true)), ["c6"]),
        ["eq-string-never-equals-number"] = (Eq("level", "3"), []),
        ["not-eq-excludes-missing"] = (new NotFilter(Eq("account", "contoso")), ["c2", "c3", "c5", "c6"]),
        ["not-eq-in-set-is-none-of"] = (new NotFilter(Eq("tags", "a")), ["c3", "c4"]),
        ["label-le"] = (Label(ComparisonOperator.LessThanOrEqual, "General"), ["c1", "c4", "c5"]),
        ["label-gt"] = (Label(ComparisonOperator.GreaterThan, "Confidential"), ["c3"]),
        ["label-lt-lowest"] = (Label(ComparisonOperator.LessThan, "Public"), []),
        ["label-ge"] = (Label(ComparisonOperator.GreaterThanOrEqual, "Confidential"), ["c2", "c3", "c6"]),
        ["not-label-le"] = (new NotFilter(Label(ComparisonOperator.LessThanOrEqual, "General")), ["c2", "c3", "c6"]),
        ["number-lt"] = (new ComparisonFilter("level", ComparisonOperator.LessThan, AttributeValue.FromNumber(2)), ["c1", "c5"]),
        ["not-number-lt-excludes-missing"] = (new NotFilter(new ComparisonFilter("level", ComparisonOperator.LessThan, AttributeValue.FromNumber(2))), ["c2", "c4", "c6"]),
        ["range-on-strings-is-false"] = (new ComparisonFilter("account", ComparisonOperator.GreaterThan, AttributeValue.FromNumber(0)), []),
        ["in-5000-values"] = (new InFilter("account", LongList), ["c5", "c6"]),
        ["not-in-5000-values"] = (new NotFilter(new InFilter("account", LongList)), ["c1", "c2", "c3"]),
        ["in-empty-list"] = (new InFilter("account", []), []),
        ["not-in-empty-list-is-has"] = (new NotFilter(new InFilter("account", [])), ["c1", "c2", "c3", "c5", "c6"]),
        ["in-mixed-kinds"] = (new InFilter("level", [AttributeValue.FromString("1"), AttributeValue.FromNumber(4)]), ["c6"]),
        ["overlap-sets"] = (new InFilter("tags", [AttributeValue.FromString("🙂"), AttributeValue.FromString("b")]), ["c1", "c4"]),
        ["in-with-hostile-values"] = (new InFilter("account", [.. RandomScenarios.HostileValues.Select(AttributeValue.FromString)]), ["c1", "c2", "c3", "c5", "c6"]),
        ["has"] = (new HasFilter("level"), ["c1", "c2", "c4", "c5", "c6"]),
        ["not-has"] = (new NotFilter(new HasFilter("level")), ["c3"]),
        ["not-has-unknown-attribute"] = (new NotFilter(new HasFilter("nowhere")), ["c1", "c2", "c3", "c4", "c5", "c6"]),
        ["unknown-attribute-never-matches"] = (Eq("nowhere", "x"), []),
        ["not-unknown-attribute-never-matches"] = (new NotFilter(Eq("nowhere", "x")), []),
        ["starts-with-quote"] = (new StartsWithFilter("account", "O'"), ["c2"]),
        ["starts-with-empty"] = (new StartsWithFilter("account", string.Empty), ["c1", "c2", "c3", "c5", "c6"]),
        ["starts-with-unicode"] = (new StartsWithFilter("tags", "日"), ["c3"]),
        ["starts-with-like-wildcards-are-literal"] = (new StartsWithFilter("account", "%"), []),
        ["not-starts-with"] = (new NotFilter(new StartsWithFilter("account", "c")), ["c2", "c3", "c5", "c6"]),
        ["or"] = (new OrFilter([Eq("source", "hr"), Eq("account", "$filter")]), ["c2", "c6"]),
        ["and-with-missing-negation"] = (new AndFilter([Eq("source", "kb"), new NotFilter(Eq("account", "contoso"))]), ["c6"]),
        ["not-and-de-morgan"] = (new NotFilter(new AndFilter([Eq("source", "kb"), Eq("account", "contoso")])), ["c2", "c3", "c5", "c6"]),
        ["not-or"] = (new NotFilter(new OrFilter([Eq("source", "kb"), Eq("account", "O'Brien")])), ["c3", "c5"]),
        ["double-negation"] = (new NotFilter(new NotFilter(Eq("account", "contoso"))), ["c1"]),
        ["true"] = (FilterNode.True, ["c1", "c2", "c3", "c4", "c5", "c6"]),
        ["false"] = (FilterNode.False, []),
        ["document-id"] = (Eq("documentId", "doc-c4"), ["c4"]),
    };

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Search_FilterCase_ReturnsExactlyTheExpectedChunks(string name)
    {
        var (filter, expected) = Cases[name];
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync([.. Corpus.Select(static (chunk, i) => new StoredChunk(chunk, Vector(i)))], CancellationToken.None);

        var result = await store.SearchAsync(new ChunkQuery(Vector(0), filter, Top: 100), CancellationToken.None);

        var actual = result.Chunks.Select(static c => c.Chunk.Id).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, actual);
        Assert.Equal(expected, Corpus.Where(c => FilterEvaluator.Matches(filter, c.ResourceAttributes)).Select(static c => c.Id).ToArray());
        Assert.Equal(Corpus.Length, await store.CountAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Search_ChunksRoundTrip_WithLabelsAttributesFieldsAndSubjects()
    {
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        var chunk = Corpus[2] with { Subjects = ["cust-1", "p-2"], Title = "t", Version = 3 };
        await store.UpsertAsync([new StoredChunk(chunk, Vector(1))], CancellationToken.None);

        var loaded = await store.GetAsync("c3", CancellationToken.None);

        Assert.NotNull(loaded);
        Assert.Equal(chunk.Label, loaded.Label);
        Assert.Equal(chunk.Text, loaded.Text);
        Assert.Equal(chunk.ContentSha256, loaded.ContentSha256);
        Assert.Equal(["cust-1", "p-2"], loaded.Subjects.ToArray());
        Assert.Equal(3, loaded.Version);
        Assert.True(loaded.Attributes.TryGet("account", out var account));
        Assert.Equal("'; DROP TABLE chunks; --", Assert.Single(account).Text);
    }

    [Fact]
    public async Task Search_OrdersByScoreThenId_AndPagesWithSkip()
    {
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync([.. Corpus.Select(static (chunk, i) => new StoredChunk(chunk, Vector(i % 2)))], CancellationToken.None);

        var all = await store.SearchAsync(new ChunkQuery(Vector(0), FilterNode.True, Top: 6), CancellationToken.None);
        var second = await store.SearchAsync(new ChunkQuery(Vector(0), FilterNode.True, Top: 2, Skip: 2), CancellationToken.None);

        Assert.Equal(["c1", "c3", "c5", "c2", "c4", "c6"], all.Chunks.Select(static c => c.Chunk.Id));
        Assert.Equal(["c5", "c2"], second.Chunks.Select(static c => c.Chunk.Id));
        Assert.True(all.Exhausted);
        Assert.False(second.Exhausted);
    }

    [Fact]
    public async Task Upsert_SameId_ReplacesChunkAndItsAttributes()
    {
        var store = await CreateStoreAsync();
        await store.InitializeAsync(CancellationToken.None);
        await store.UpsertAsync([new StoredChunk(Corpus[0], Vector(0))], CancellationToken.None);
        await store.UpsertAsync([new StoredChunk(Corpus[0] with { Attributes = AttributeSet.Empty, Label = Labels.Get("Highly Confidential") }, Vector(0))], CancellationToken.None);

        var byAccount = await store.SearchAsync(new ChunkQuery(Vector(0), Eq("account", "contoso"), Top: 10), CancellationToken.None);
        var byLabel = await store.SearchAsync(new ChunkQuery(Vector(0), Label(ComparisonOperator.GreaterThan, "Confidential"), Top: 10), CancellationToken.None);

        Assert.Empty(byAccount.Chunks);
        Assert.Equal("c1", Assert.Single(byLabel.Chunks).Chunk.Id);
        Assert.Equal(1, await store.CountAsync(CancellationToken.None));
    }

    private static ComparisonFilter Eq(string attribute, string value) => new(attribute, ComparisonOperator.Equal, AttributeValue.FromString(value));

    private static ComparisonFilter Label(ComparisonOperator op, string label) => new("label", op, Labels.Get(label).ToAttributeValue());

    private static float[] Vector(int i)
    {
        var vector = new float[4];
        vector[i % 4] = 1;
        return vector;
    }

    private static Chunk Make(string id, string source, string label, Action<AttributeSetBuilder> attributes)
    {
        var builder = new AttributeSetBuilder();
        attributes(builder);
        return new Chunk { Id = id, DocumentId = "doc-" + id, Source = source, Label = Labels.Get(label), Text = "text of " + id, Attributes = builder.Build() };
    }
}
