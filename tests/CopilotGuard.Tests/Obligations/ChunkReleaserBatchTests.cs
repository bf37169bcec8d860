using System.Collections.Immutable;
using System.Text.Json;
using CopilotGuard.Anonymization;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using CopilotGuard.Tests.Anonymization;

namespace CopilotGuard.Tests.Obligations;

/// <summary>Releasing chunks in one batch gives exactly what releasing them one by one gives, with one vault read and
/// at most one vault write for the whole batch.</summary>
public sealed class ChunkReleaserBatchTests
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;
    private static readonly AnonymizerKeys Keys = new(new byte[32], [.. Enumerable.Range(1, 32).Select(i => (byte)i)]);
    private static readonly byte[] FieldKey = [.. Enumerable.Range(0, 32).Select(i => (byte)(i * 7))];
    private static readonly EntityAnalyzer Analyzer = EntityAnalyzer.CreateDefault(DictionaryRecognizer.Create([("Jane Alice Doe", EntityTypes.Person, "jane")]));
    private static readonly CallerPrincipals Caller = new(new Principal("u", PrincipalKind.User, AttributeSet.Empty));

    private static readonly string[] Sources = ["support", "hr", "kb", "transactions"];
    private static readonly string[] Names = ["Maria Garcia", "Ms. Garcia", "M. Garcia", "Carlos Garcia", "Michael Turner", "Mr. Turner", "Jane Doe", "Ms. Doe", "Sarah Mitchell", "Dr. Mitchell"];
    private static readonly string[] Emails = ["maria.garcia@contoso.com", "Maria.Garcia@contoso.com", "mturner@fabrikam.com", "jane.doe@contoso.com"];
    private static readonly string[] Phones = ["+1 425 555 0100", "(425) 555-0199", "425-555-0100"];

    // Obligations a bundle picks from: entity operators per source and destination, field operators, overlaps between them.
    private static readonly string[] ObligationPool =
    [
        "  - id: support-people\n    when: resource.source == \"support\"\n    entities: { PERSON: pseudonymize, default: replace }",
        "  - id: everyone-emails\n    when: \"true\"\n    entities: { EMAIL_ADDRESS: pseudonymize, default: keep }",
        "  - id: hr-rows\n    when: resource.source == \"hr\"\n    fields: { phone: { mask: { keepLast: 4 } }, ssn: drop }\n    entities: { PHONE_NUMBER: { mask: { chars_to_mask: \"6\" } }, PERSON: pseudonymize }",
        "  - id: kb-hash\n    when: resource.source == \"kb\"\n    fields: { email: hash }\n    entities: { PERSON: replace, default: keep }",
        "  - id: transactions\n    when: resource.source == \"transactions\"\n    fields: { name: { generalize: { category: customer } } }\n    entities: { PERSON: pseudonymize, PHONE_NUMBER: pseudonymize, default: redact }",
        "  - id: all-names\n    when: \"true\"\n    entities: { PERSON: pseudonymize }",
        "  - id: external\n    when: request.destination != \"internal\"\n    entities: { default: replace, PERSON: pseudonymize, DATE_TIME: generalize }",
    ];

    [Fact]
    public async Task ReleaseAllAsync_RandomChunksAndObligations_EqualTheReleaseOfOneTextAtATime()
    {
        int pseudonymized = 0, withheldFields = 0, anonymizedFields = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var bundle = Bundle(random);
            var request = RetrievalBroker.RequestAttributes(null, random.Next(2) == 0 ? "internal" : null);
            var residual = Residual(random, request);
            var chunks = Enumerable.Range(0, random.Next(1, 13)).Select(i => Row(random, i)).ToArray();
            var conversation = "conv-" + seed;
            var synchronous = seed % 3 == 2;

            // The oracle: the algorithm before batching, one text at a time, on a vault of its own.
            var referenceVault = new CountingVault();
            var reference = new ReferenceReleaser(new Anonymizer(Analyzer, Keys, synchronous ? referenceVault.Inner : referenceVault), FieldKey);
            var expected = new List<ReleasedChunk>();
            foreach (var chunk in chunks)
            {
                expected.Add(await reference.ReleaseAsync(bundle, Caller, request, residual, conversation, chunk, synchronous));
            }

            var batchVault = new CountingVault();
            var batch = Releaser(synchronous ? batchVault.Inner : batchVault).Plan(bundle, Caller, request, residual, conversation);
            var actual = synchronous ? batch.ReleaseAll(chunks) : await batch.ReleaseAllAsync(chunks, CancellationToken.None);

            // One plan releasing the chunks one by one, as the benchmark and older callers do.
            var oneByOneVault = new CountingVault();
            var oneByOnePlan = Releaser(synchronous ? oneByOneVault.Inner : oneByOneVault).Plan(bundle, Caller, request, residual, conversation);
            var oneByOne = new List<ReleasedChunk>();
            foreach (var chunk in chunks)
            {
                oneByOne.Add(synchronous ? oneByOnePlan.Release(chunk) : await oneByOnePlan.ReleaseAsync(chunk, CancellationToken.None));
            }

            Assert.Equal(chunks.Length, actual.Count);
            for (var i = 0; i < chunks.Length; i++)
            {
                AssertSame(expected[i], actual[i], $"seed {seed}, batch, chunk {i} of {chunks.Length}");
                AssertSame(expected[i], oneByOne[i], $"seed {seed}, one by one, chunk {i} of {chunks.Length}");
                withheldFields += actual[i].FieldsWithheld.Count(static p => p.Value != "anonymized");
                anonymizedFields += actual[i].FieldsWithheld.Count(static p => p.Value == "anonymized");
            }

            var expectedEntries = await referenceVault.Inner.GetEntriesAsync(conversation);
            foreach (var vault in new[] { batchVault, oneByOneVault })
            {
                var actualEntries = await vault.Inner.GetEntriesAsync(conversation);
                Assert.True(expectedEntries.SequenceEqual(actualEntries), $"seed {seed}: vault entries differ\n expected {string.Join(", ", expectedEntries)}\n actual   {string.Join(", ", actualEntries)}");
            }

            Assert.True(batchVault.Reads <= 1 && batchVault.Writes <= 1, $"seed {seed}: {batchVault.Reads} reads, {batchVault.Writes} writes");
            pseudonymized += expectedEntries.Count;
        }

        Assert.True(pseudonymized > 500, $"only {pseudonymized} pseudonyms created");
        Assert.True(withheldFields > 300, $"only {withheldFields} fields withheld");
        Assert.True(anonymizedFields > 300, $"only {anonymizedFields} fields anonymized");
    }

    [Fact]
    public async Task ReleaseAllAsync_TenRowsWithStringFields_ReadsTheVaultOnceAndWritesOnce()
    {
        var vault = new CountingVault();
        var bundle = Bundle(ObligationPool[0], ObligationPool[1], ObligationPool[5]);
        var random = new Random(7);
        var chunks = Enumerable.Range(0, 10).Select(i => Row(random, i) with { Source = "support" }).ToArray();
        var plan = Releaser(vault).Plan(bundle, Caller, RetrievalBroker.RequestAttributes(null, null), new ConstantFilter(true), "conv");

        var released = await plan.ReleaseAllAsync(chunks, CancellationToken.None);

        Assert.Equal(10, released.Count);
        Assert.Equal(1, vault.Reads);
        Assert.Equal(1, vault.Writes);
        Assert.All(released, r => Assert.Contains("<PERSON_", r.Chunk.Text, StringComparison.Ordinal));

        // Releasing them one by one makes a round trip per chunk; the old path made one per text.
        var oneByOne = new CountingVault();
        var perChunk = Releaser(oneByOne).Plan(bundle, Caller, RetrievalBroker.RequestAttributes(null, null), new ConstantFilter(true), "conv");
        foreach (var chunk in chunks)
        {
            await perChunk.ReleaseAsync(chunk, CancellationToken.None);
        }

        Assert.Equal(10, oneByOne.Reads);
    }

    [Fact]
    public async Task ReleaseAllAsync_VaultCannotPersist_FailsWithoutReleasingAnything()
    {
        var vault = new CountingVault { FailWrites = new IOException("disk full") };
        var bundle = Bundle(ObligationPool[5]);
        var random = new Random(3);
        var chunks = Enumerable.Range(0, 10).Select(i => Row(random, i)).ToArray();
        var plan = Releaser(vault).Plan(bundle, Caller, RetrievalBroker.RequestAttributes(null, "internal"), new ConstantFilter(true), "conv");
        IReadOnlyList<ReleasedChunk>? released = null;

        await Assert.ThrowsAsync<IOException>(async () => released = await plan.ReleaseAllAsync(chunks, CancellationToken.None));

        Assert.Null(released);
        Assert.Equal((1, 1), (vault.Reads, vault.Writes));
        Assert.Empty(await vault.Inner.GetEntriesAsync("conv"));
    }

    [Fact]
    public async Task ReleaseAll_NoChunksOrNoAnonymizer_WorkWithoutTheVault()
    {
        var vault = new CountingVault();
        var bundle = Bundle(ObligationPool[2]);
        var request = RetrievalBroker.RequestAttributes(null, "internal");
        Assert.Empty(await Releaser(vault).Plan(bundle, Caller, request, new ConstantFilter(true), "conv").ReleaseAllAsync([], CancellationToken.None));
        Assert.Equal((0, 0), (vault.Reads, vault.Writes));

        var chunk = Row(new Random(1), 0) with { Source = "hr" };
        var released = new ChunkReleaser(null, FieldKey).Plan(bundle, Caller, request, new ConstantFilter(true), "conv").ReleaseAll([chunk, chunk]);
        Assert.Equal(2, released.Count);
        Assert.Equal(released[0].Chunk.Text, released[1].Chunk.Text);
        Assert.False(released[0].Chunk.Fields!.ContainsKey("ssn"));
        Assert.Equal("drop", released[0].FieldsWithheld["ssn"]);
        Assert.Contains(ChunkReleaser.WithheldMarker, released[0].Chunk.Text, StringComparison.Ordinal);
        Assert.Empty(released[0].Entities);
    }

    [Fact]
    public async Task RetrieveAsync_TenChunksWithPseudonyms_ReadsTheVaultOnceAndWritesOnce()
    {
        var bundle = new PolicyLoader(Labels).Load([("p.yaml", "apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n  - id: all\n    effect: allow\n    when: \"true\"\nobligations:\n" + ObligationPool[5] + "\n" + ObligationPool[1] + "\n")]);
        var random = new Random(11);
        var store = new InMemoryChunkStore();
        await store.UpsertAsync([.. Enumerable.Range(0, 10).Select(i => new StoredChunk(Row(random, i), DeterministicEmbedder.RandomUnitVector(random, 8)))], CancellationToken.None);
        var vault = new CountingVault();
        var broker = new RetrievalBroker(new OneUser(Caller.Subject), bundle, store, new DeterministicEmbedder(8), new InMemoryAuditLog(), new QueryHasher(new byte[32]), releaser: Releaser(vault), destinations: TestDestinations.Standard(bundle.Labels));

        var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity("u", null), Query = "q", Top = 10, Destination = "internal", ConversationId = "conv" }, CancellationToken.None);

        Assert.Equal(10, result.Chunks.Length);
        Assert.Equal((1, 1), (vault.Reads, vault.Writes));
        Assert.All(result.Record.Chunks, c => Assert.True(c.AnonymizedEntities?.ContainsKey(EntityTypes.Person)));
    }

    private static void AssertSame(ReleasedChunk expected, ReleasedChunk actual, string context)
    {
        Assert.True(expected.Chunk.Text == actual.Chunk.Text, $"{context}\n expected '{expected.Chunk.Text}'\n actual   '{actual.Chunk.Text}'");
        Assert.True(Describe(expected.Chunk.Fields) == Describe(actual.Chunk.Fields), $"{context}\n expected {Describe(expected.Chunk.Fields)}\n actual   {Describe(actual.Chunk.Fields)}");
        Assert.Equal(Sorted(expected.FieldsWithheld), Sorted(actual.FieldsWithheld));
        Assert.Equal(Sorted(expected.Entities), Sorted(actual.Entities));
        Assert.Equal((expected.Chunk.Id, expected.Chunk.Label, expected.Chunk.Schema, expected.Chunk.Source), (actual.Chunk.Id, actual.Chunk.Label, actual.Chunk.Schema, actual.Chunk.Source));
    }

    /// <summary>Everything, or a label ceiling, so that fields labelled above it are withheld.</summary>
    private static FilterNode Residual(Random random, AttributeSet request)
    {
        if (random.Next(3) == 0)
        {
            return new ConstantFilter(true);
        }

        var ceiling = Labels.Labels[random.Next(Labels.Labels.Length)].Name;
        var rules = new PolicyLoader(Labels).Load([("r.yaml", $"apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n  - id: ceiling\n    effect: allow\n    when: resource.label <= \"{ceiling}\"\n")]);
        return rules.Decide(Caller, request);
    }

    private static ChunkReleaser Releaser(IPseudonymVault vault) => new(new Anonymizer(Analyzer, Keys, vault), FieldKey);

    private static PolicyBundle Bundle(Random random)
    {
        var picked = ObligationPool.Where(_ => random.Next(2) == 0).DefaultIfEmpty(ObligationPool[random.Next(ObligationPool.Length)]).ToArray();
        return Bundle(picked);
    }

    private static PolicyBundle Bundle(params string[] obligations)
    {
        var loaded = new PolicyLoader(Labels).Load([("o.yaml", "apiVersion: copilotguard/v1\nversion: \"1\"\nobligations:\n" + string.Join("\n", obligations) + "\n")]);
        return new PolicyBundle("p", "h", [], Labels, loaded.Obligations);
    }

    /// <summary>A row whose string fields and template text carry names, emails and phone numbers; some chunks are prose.</summary>
    private static Chunk Row(Random random, int index)
    {
        var label = Labels.Labels[random.Next(Labels.Labels.Length)];
        var source = Sources[random.Next(Sources.Length)];
        if (random.Next(5) == 0)
        {
            return new Chunk { Id = $"c{index:D3}", DocumentId = "d", Source = source, Label = label, Text = Sentence(random) + ". " + Sentence(random) + "." };
        }

        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal)
        {
            ["name"] = JsonSerializer.SerializeToElement(Pick(random, Names)),
            ["email"] = JsonSerializer.SerializeToElement(Pick(random, Emails)),
            ["phone"] = JsonSerializer.SerializeToElement(Pick(random, Phones)),
            ["note"] = JsonSerializer.SerializeToElement(random.Next(4) == 0 ? string.Empty : Sentence(random)),
            ["ssn"] = JsonSerializer.SerializeToElement("078-05-1120"),
            ["amount"] = JsonSerializer.SerializeToElement(random.Next(100, 100000)),
        }.ToImmutableDictionary(StringComparer.Ordinal);
        var schema = new RowSchema(
            "Customer {name} ({email}, {phone}) wrote: {note}. SSN {ssn}, amount {amount}.",
            values.Keys.ToImmutableDictionary(static f => f, f => new FieldSchema(f == "amount" ? "number" : "string", FieldLabel(random, label))));
        return new Chunk
        {
            Id = $"c{index:D3}",
            DocumentId = "d",
            Source = source,
            Label = label,
            Fields = values,
            Schema = schema,
            Text = Ingestion.CorpusReader.Render(schema.TextTemplate, values),
        };
    }

    /// <summary>Mostly the chunk's own label; sometimes a higher one, which a label ceiling withholds.</summary>
    private static string FieldLabel(Random random, SensitivityLabel chunkLabel) =>
        random.Next(3) == 0 ? Labels.Labels[random.Next(Labels.Labels.IndexOf(chunkLabel), Labels.Labels.Length)].Name : chunkLabel.Name;

    private static string Sentence(Random random) => random.Next(3) switch
    {
        0 => $"{Pick(random, Names)} wrote to {Pick(random, Names)} on March 3, 2024",
        1 => $"Call {Pick(random, Phones)} or mail {Pick(random, Emails)}, says {Pick(random, Names)}",
        _ => $"{Pick(random, Names)} and {Pick(random, Names)} agreed",
    };

    private static string Pick(Random random, string[] items) => items[random.Next(items.Length)];

    private static string Describe(ImmutableDictionary<string, JsonElement>? fields) =>
        fields is null ? "null" : string.Join("; ", fields.OrderBy(static p => p.Key, StringComparer.Ordinal).Select(static p => $"{p.Key}={p.Value.ValueKind}:{p.Value.GetRawText()}"));

    private static KeyValuePair<string, T>[] Sorted<T>(ImmutableDictionary<string, T> map) => [.. map.OrderBy(static p => p.Key, StringComparer.Ordinal)];

    private sealed class OneUser(Principal user) : IEntitlementProvider
    {
        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(principalId == user.Id ? user : null);
    }
}
