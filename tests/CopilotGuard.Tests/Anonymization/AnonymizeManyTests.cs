using System.Text.RegularExpressions;
using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization;

/// <summary>The batch API gives exactly what anonymizing the same texts one after the other gives, with one vault
/// read and at most one vault write.</summary>
public sealed partial class AnonymizeManyTests
{
    private static readonly AnonymizerKeys s_keys = new(new byte[32], [.. Enumerable.Range(1, 32).Select(i => (byte)i)]);

    private static readonly EntityAnalyzer s_analyzer = EntityAnalyzer.CreateDefault(DictionaryRecognizer.Create(
    [
        ("Jane Alice Doe", EntityTypes.Person, "jane"),
        ("Robert Johnson", EntityTypes.Person, "rjohnson"),
        ("Fabrikam", EntityTypes.Organization, "fabrikam"),
    ]));

    // Name variants that link (or, with another first name, must not link) to one another depending on what came first.
    private static readonly string[] Names =
    [
        "Maria Garcia", "Ms. Garcia", "Maria", "Garcia, Maria", "M. Garcia", "maria garcia", "Carlos Garcia", "Mr. Garcia",
        "Michael Turner", "Mr. Turner", "Sarah Mitchell", "Dr. Mitchell", "Jane Doe", "Jane Alice Doe", "Ms. Doe",
        "Robert Johnson", "Mr. Johnson", "Dr. Maria Lopez", "Lopez",
    ];

    private static readonly string[] Emails = ["maria.garcia@contoso.com", "Maria.Garcia@Contoso.com", "mturner@fabrikam.com", "jane.doe@contoso.com", "help@contoso.com"];

    private static readonly string[] Phones = ["+1 425 555 0100", "(425) 555-0199", "425-555-0100", "+44 20 7946 0958"];

    private static readonly string[] Templates =
    [
        "{n} wrote to {n} about the refund.",
        "Contact {e} or call {p}.",
        "Ticket 42: {n} called from {p}; {n} replied from {e}.",
        "No personal data in this one.",
        "",
        "Meeting on March 3, 1984 with {n}, 42 years old.",
        "Card 4111 1111 1111 1111 was used by {n} at Fabrikam.",
        "{n}",
        "{e}",
        "Escalated by {n} ({e}, {p}); {n} and {n} agreed.",
    ];

    private static readonly AnonymizationOperator[] Operators =
    [
        AnonymizationOperator.Pseudonymize, AnonymizationOperator.Pseudonymize, AnonymizationOperator.Pseudonymize,
        AnonymizationOperator.Replace(), AnonymizationOperator.Replace("[x]"), AnonymizationOperator.Keep,
        AnonymizationOperator.Mask('*', 3, false), AnonymizationOperator.Mask('#', 100, true), AnonymizationOperator.Redact,
        AnonymizationOperator.Hash, AnonymizationOperator.Generalize,
    ];

    private static readonly string[] Types = [EntityTypes.Person, EntityTypes.EmailAddress, EntityTypes.PhoneNumber, EntityTypes.DateTime, EntityTypes.Organization];

    private static Anonymizer Create(IPseudonymVault vault) => new(s_analyzer, s_keys, vault);

    [Fact]
    public async Task AnonymizeManyAsync_RandomBatches_EqualSequentialCallsOnAFreshVault()
    {
        int batches = 0, crossTextLinks = 0, variantLinks = 0, created = 0, mixedPolicies = 0;
        for (var seed = 0; seed < 400; seed++)
        {
            var random = new Random(seed);
            var synchronous = seed % 4 == 3;
            var conversation = new AnonymizationContext("c" + seed);
            var sequentialVault = new InMemoryPseudonymVault(new byte[32]);
            var batchVault = new CountingVault();
            var sequential = Create(sequentialVault);
            var batch = Create(synchronous ? batchVault.Inner : batchVault);

            // Half the conversations already hold subjects, which later texts link to.
            if (random.Next(2) == 0)
            {
                var warmUp = Text(random);
                var all = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
                await sequential.AnonymizeAsync(warmUp, all, conversation);
                await Create(batchVault.Inner).AnonymizeAsync(warmUp, all, conversation);
            }

            var inputs = Enumerable.Range(0, random.Next(1, 13)).Select(_ => new AnonymizationInput(Text(random), Policy(random))).ToArray();
            var before = (await batchVault.Inner.GetEntriesAsync(conversation.ConversationId!)).Count;

            var expected = new List<AnonymizerResult>();
            foreach (var input in inputs)
            {
                expected.Add(synchronous
                    ? sequential.Anonymize(input.Text, input.Policy, conversation)
                    : await sequential.AnonymizeAsync(input.Text, input.Policy, conversation));
            }

            var actual = synchronous ? batch.AnonymizeMany(inputs, conversation) : await batch.AnonymizeManyAsync(inputs, conversation);

            Assert.Equal(inputs.Length, actual.Count);
            for (var i = 0; i < inputs.Length; i++)
            {
                var context = $"seed {seed}, text {i} of {inputs.Length}: '{inputs[i].Text}'";
                Assert.True(expected[i].Text == actual[i].Text, $"{context}\n expected '{expected[i].Text}'\n actual   '{actual[i].Text}'");
                Assert.Equal(expected[i].Entities, actual[i].Entities);
                Assert.True(Counts(expected[i]) == Counts(actual[i]), $"{context}: counts {Counts(expected[i])} != {Counts(actual[i])}");
            }

            var expectedEntries = await sequentialVault.GetEntriesAsync(conversation.ConversationId!);
            var actualEntries = await batchVault.Inner.GetEntriesAsync(conversation.ConversationId!);
            Assert.True(expectedEntries.SequenceEqual(actualEntries), $"seed {seed}: vault entries differ\n expected {string.Join(", ", expectedEntries)}\n actual   {string.Join(", ", actualEntries)}");
            if (!synchronous)
            {
                Assert.True(batchVault.Reads <= 1 && batchVault.Writes <= 1, $"seed {seed}: {batchVault.Reads} reads, {batchVault.Writes} writes");
            }

            // What the cases covered: pseudonyms shared between texts of the batch, and name variants linked to them.
            batches++;
            created += actualEntries.Count - before;
            mixedPolicies += inputs.Select(input => input.Policy).Distinct().Count() > 1 ? 1 : 0;
            var textsPerPseudonym = actual.SelectMany((r, i) => PseudonymPattern().Matches(r.Text).Select(m => (m.Value, i))).Distinct()
                .GroupBy(static p => p.Value).Where(static g => g.Count() > 1).ToList();
            crossTextLinks += textsPerPseudonym.Count > 0 ? 1 : 0;
            var pseudonymizedNames = inputs.SelectMany((input, i) => actual[i].Entities
                    .Where(e => e.Type == EntityTypes.Person && e.SubjectId is null && input.Policy.OperatorFor(e.Type) is PseudonymizeOperator)
                    .Select(e => input.Text[e.Start..e.End]))
                .Distinct(StringComparer.Ordinal).Count();
            var personPseudonyms = actual.SelectMany(static r => PseudonymPattern().Matches(r.Text)).Select(static m => m.Value)
                .Where(static v => v.StartsWith("<PERSON_", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).Count();
            variantLinks += pseudonymizedNames > personPseudonyms ? 1 : 0;
        }

        Assert.Equal(400, batches);
        Assert.True(crossTextLinks > 200, $"only {crossTextLinks} batches share a pseudonym between texts");
        Assert.True(variantLinks > 100, $"only {variantLinks} batches link name variants");
        Assert.True(created > 2000, $"only {created} pseudonyms created");
        Assert.True(mixedPolicies > 300, $"only {mixedPolicies} batches mix policies");
    }

    [Fact]
    public async Task StoredTexts_AnalysisKeptWithTheString_GiveTheSameResultsAsFreshAnalysis()
    {
        // The same string objects anonymized again and again (as a cached chunk's text is) must give what a fresh
        // analysis of an equal string gives, under every policy.
        var random = new Random(23);
        var texts = Enumerable.Range(0, 40).Select(_ => Text(random)).ToArray();
        var stored = Create(new InMemoryPseudonymVault(new byte[32]));
        var fresh = Create(new InMemoryPseudonymVault(new byte[32]));
        for (var round = 0; round < 5; round++)
        {
            var policies = texts.Select(_ => Policy(random)).ToArray();
            var context = new AnonymizationContext("conversation-" + round);
            var cached = await stored.AnonymizeManyAsync([.. texts.Select((t, i) => new AnonymizationInput(t, policies[i], Stored: true))], context);
            var expected = await fresh.AnonymizeManyAsync([.. texts.Select((t, i) => new AnonymizationInput(new string(t.AsSpan()), policies[i]))], context);
            Assert.Equal(expected.Select(static r => r.Text), cached.Select(static r => r.Text));
            Assert.Equal(expected.Select(Counts), cached.Select(Counts));
        }
    }

    [Fact]
    public async Task AnonymizeManyAsync_NameVariantsAcrossTexts_LinkToTheFirstAppearanceWithOneReadAndOneWrite()
    {
        var vault = new CountingVault();
        var anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        var context = new AnonymizationContext("c");
        await anonymizer.AnonymizeAsync("Michael Turner opened the ticket.", policy, context);
        vault.Reset();

        var results = await anonymizer.AnonymizeManyAsync(
            ["Maria Garcia called from +1 425 555 0100.", "Ms. Garcia wrote to Mr. Turner.", "Jane Doe and M. Garcia agreed; mail maria.garcia@contoso.com."],
            policy,
            context);

        Assert.Equal(
            ["<PERSON_2> called from <PHONE_NUMBER_1>.", "<PERSON_2> wrote to <PERSON_1>.", "<PERSON_3> and <PERSON_2> agreed; mail <EMAIL_ADDRESS_1>."],
            results.Select(static r => r.Text));
        Assert.Equal((1, 1), (vault.Reads, vault.Writes));
        Assert.Equal(["name:maria garcia", "value:+1 425 555 0100", "id:jane", "value:maria.garcia@contoso.com"], vault.Written[0].Select(static s => s.SubjectKey));
        Assert.Equal(2, results[2].CountsByType[EntityTypes.Person]);
    }

    [Fact]
    public async Task AnonymizeManyAsync_VaultCannotPersist_FailsWithoutTextAndStoresNothing()
    {
        var vault = new CountingVault { FailWrites = new IOException("disk full") };
        var anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        IReadOnlyList<AnonymizerResult>? results = null;

        await Assert.ThrowsAsync<IOException>(async () => results = await anonymizer.AnonymizeManyAsync(["No names here.", "Maria Garcia called.", "Mr. Turner too."], policy, new("c")));

        Assert.Null(results);
        Assert.Equal((1, 1), (vault.Reads, vault.Writes));
        Assert.Empty(await vault.Inner.GetEntriesAsync("c"));
    }

    [Fact]
    public async Task AnonymizeManyAsync_NoTextPseudonymized_DoesNotTouchTheVault()
    {
        var vault = new CountingVault { FailWrites = new IOException("not expected") };
        var anonymizer = Create(vault);
        var keep = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Keep };

        var results = await anonymizer.AnonymizeManyAsync(
            [new AnonymizationInput("Maria Garcia called.", AnonymizationPolicy.Default), new AnonymizationInput("Mr. Turner too.", keep), new AnonymizationInput(string.Empty, AnonymizationPolicy.Default)],
            new AnonymizationContext());

        Assert.Equal(["<PERSON> called.", "Mr. Turner too.", string.Empty], results.Select(static r => r.Text));
        Assert.Equal((0, 0), (vault.Reads, vault.Writes));
        Assert.Empty(await anonymizer.AnonymizeManyAsync([], new AnonymizationContext("c")));
        Assert.Equal((0, 0), (vault.Reads, vault.Writes));
    }

    [Fact]
    public void AnonymizeMany_SynchronousCallWithVaultOutsideTheProcess_ThrowsBeforeTouchingTheVault()
    {
        var vault = new CountingVault();
        var anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };

        Assert.Throws<InvalidOperationException>(() => anonymizer.AnonymizeMany([new("No names.", policy), new("Maria Garcia called.", policy)], new("c")));
        Assert.Equal((0, 0), (vault.Reads, vault.Writes));

        // Without the pseudonymize operator the vault is not needed, so the synchronous call works.
        Assert.Equal("<PERSON> called.", anonymizer.AnonymizeMany([new("Maria Garcia called.", AnonymizationPolicy.Default)], new("c"))[0].Text);
    }

    [Fact]
    public async Task AnonymizeManyAsync_InvalidInputs_Throw()
    {
        var anonymizer = Create(new CountingVault());
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await anonymizer.AnonymizeManyAsync((IReadOnlyList<AnonymizationInput>)null!, new("c")));
        await Assert.ThrowsAsync<ArgumentException>(async () => await anonymizer.AnonymizeManyAsync([new AnonymizationInput("x", null!)], new("c")));
        await Assert.ThrowsAsync<ArgumentException>(async () => await anonymizer.AnonymizeManyAsync([default(AnonymizationInput)], new("c")));
        await Assert.ThrowsAsync<ArgumentException>(async () => await anonymizer.AnonymizeManyAsync(["x", null!], AnonymizationPolicy.Default, new("c")));
    }

    private static string Text(Random random)
    {
        var template = Templates[random.Next(Templates.Length)];
        var sentence = TokenPattern().Replace(template, m => m.Value switch
        {
            "{n}" => Names[random.Next(Names.Length)],
            "{e}" => Emails[random.Next(Emails.Length)],
            _ => Phones[random.Next(Phones.Length)],
        });
        return random.Next(2) == 0 ? sentence + " " + Text(random) : sentence;
    }

    private static AnonymizationPolicy Policy(Random random)
    {
        var operators = new Dictionary<string, AnonymizationOperator>(StringComparer.Ordinal);
        foreach (var type in Types)
        {
            if (random.Next(2) == 0)
            {
                operators[type] = Operators[random.Next(Operators.Length)];
            }
        }

        // Most texts pseudonymize people, so that name variants have something to link to.
        if (random.Next(3) != 0)
        {
            operators[EntityTypes.Person] = AnonymizationOperator.Pseudonymize;
        }

        return new AnonymizationPolicy { DefaultOperator = Operators[random.Next(Operators.Length)], Operators = operators };
    }

    private static string Counts(AnonymizerResult result) =>
        string.Join(", ", result.CountsByType.OrderBy(static p => p.Key, StringComparer.Ordinal).Select(static p => $"{p.Key}={p.Value}"));

    [GeneratedRegex(@"\{[nep]\}")]
    private static partial Regex TokenPattern();

    [GeneratedRegex(@"<[A-Z_]+_\d+>")]
    private static partial Regex PseudonymPattern();
}
