using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization;

public sealed class AnonymizerTests
{
    private static readonly AnonymizerKeys s_keys = new(new byte[32], Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private static DictionaryRecognizer Directory() => DictionaryRecognizer.Create(
    [
        ("Jane Alice Doe", EntityTypes.Person, "jane"),
        ("Robert Johnson", EntityTypes.Person, "rjohnson"),
        ("Fabrikam", EntityTypes.Organization, "fabrikam"),
    ]);

    private static Anonymizer Create(IPseudonymVault? vault = null) => new(EntityAnalyzer.CreateDefault(Directory()), s_keys, vault);

    private static AnonymizationPolicy Policy(AnonymizationOperator op, string type) =>
        new() { Operators = new Dictionary<string, AnonymizationOperator> { [type] = op } };

    [Fact]
    public void Anonymize_DefaultPolicy_ReplacesWithTypedPlaceholdersAndCounts()
    {
        const string text = "Mail jane.doe@contoso.com or call +1 425 555 0100.";
        AnonymizerResult r = Create().Anonymize(text, AnonymizationPolicy.Default, new());
        Assert.Equal("Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>.", r.Text);
        Assert.Equal(1, r.CountsByType[EntityTypes.EmailAddress]);
        Assert.Equal(1, r.CountsByType[EntityTypes.PhoneNumber]);
        EntitySpan email = r.Entities[0];
        Assert.Equal("jane.doe@contoso.com", text[email.Start..email.End]);
    }

    [Fact]
    public void Anonymize_Redact_RemovesValue()
    {
        AnonymizerResult r = Create().Anonymize("Mail a@contoso.com now", Policy(AnonymizationOperator.Redact, EntityTypes.EmailAddress), new());
        Assert.Equal("Mail  now", r.Text);
    }

    [Theory]
    [InlineData('*', int.MaxValue, false, "Card ******************* ok")]
    [InlineData('#', 4, true, "Card 4111 1111 1111 ####ok")]
    [InlineData('x', 4, false, "Card xxxx 1111 1111 1111 ok")]
    public void Anonymize_Mask_MasksRequestedCharacters(char c, int count, bool fromEnd, string expected)
    {
        string text = expected.StartsWith("Card 4111 1111 1111 ####", StringComparison.Ordinal) ? "Card 4111 1111 1111 1111ok" : "Card 4111 1111 1111 1111 ok";
        if (fromEnd)
        {
            text = "Card 4111 1111 1111 1111 ok";
            expected = "Card 4111 1111 1111 #### ok";
        }

        AnonymizerResult r = Create().Anonymize(text, Policy(AnonymizationOperator.Mask(c, count, fromEnd), EntityTypes.CreditCard), new());
        Assert.Equal(expected, r.Text);
    }

    [Fact]
    public void Anonymize_Hash_IsStableAndKeyed()
    {
        AnonymizationPolicy policy = Policy(AnonymizationOperator.Hash, EntityTypes.EmailAddress);
        string a = Create().Anonymize("x a@contoso.com", policy, new()).Text;
        string b = Create().Anonymize("x a@contoso.com", policy, new()).Text;
        string other = new Anonymizer(EntityAnalyzer.CreateDefault(), AnonymizerKeys.CreateRandom()).Anonymize("x a@contoso.com", policy, new()).Text;
        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
        Assert.Matches("^x [0-9a-f]{64}$", a);
    }

    [Fact]
    public void Anonymize_Encrypt_IsReversibleWithTheKeyOnly()
    {
        Anonymizer anonymizer = Create();
        string text = anonymizer.Anonymize("x a@contoso.com", Policy(AnonymizationOperator.Encrypt, EntityTypes.EmailAddress), new()).Text;
        string token = text[2..];
        Assert.StartsWith("<ENC:", token, StringComparison.Ordinal);
        Assert.Equal("a@contoso.com", anonymizer.DecryptToken(token));
        var stranger = new Anonymizer(EntityAnalyzer.CreateDefault(), AnonymizerKeys.CreateRandom());
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => stranger.DecryptToken(token));
    }

    [Fact]
    public void Anonymize_Generalize_KeepsYearAndAgeBand()
    {
        var policy = new AnonymizationPolicy
        {
            Operators = new Dictionary<string, AnonymizationOperator> { [EntityTypes.DateTime] = AnonymizationOperator.Generalize, [EntityTypes.Age] = AnonymizationOperator.Generalize },
        };
        AnonymizerResult r = Create().Anonymize("Born on March 3, 1984, now 42 years old.", policy, new());
        Assert.Equal("Born on 1984, now 40-49 years old.", r.Text);
    }

    [Fact]
    public void Anonymize_Keep_LeavesValueAndDoesNotCount()
    {
        AnonymizerResult r = Create().Anonymize("x a@contoso.com", Policy(AnonymizationOperator.Keep, EntityTypes.EmailAddress), new());
        Assert.Equal("x a@contoso.com", r.Text);
        Assert.Single(r.Entities);
        Assert.Empty(r.CountsByType);
    }

    [Fact]
    public void Pseudonymize_NameVariantsAcrossChunksAndRequests_MapToOnePlaceholder()
    {
        var vault = new InMemoryPseudonymVault(new byte[32]);
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        var conversation = new AnonymizationContext("conv-1");
        string chunk1 = anonymizer.Anonymize("Jane Doe approved the refund for Robert Johnson.", policy, conversation).Text;
        string chunk2 = anonymizer.Anonymize("Ms. Doe asked Doe, Jane to confirm; J. Doe agreed.", policy, conversation).Text;
        string request2 = anonymizer.Anonymize("Later, jane doe wrote to Mr. Johnson.", policy, conversation).Text;
        Assert.Equal("<PERSON_1> approved the refund for <PERSON_2>.", chunk1);
        Assert.Equal("<PERSON_1> asked <PERSON_1> to confirm; <PERSON_1> agreed.", chunk2);
        Assert.Equal("Later, <PERSON_1> wrote to <PERSON_2>.", request2);

        // Another conversation numbers its own subjects.
        string other = anonymizer.Anonymize("Robert Johnson called.", policy, new AnonymizationContext("conv-2")).Text;
        Assert.Equal("<PERSON_1> called.", other);
    }

    [Fact]
    public void Pseudonymize_PeopleOutsideTheDirectory_LinkByTitleAndSurname()
    {
        var vault = new InMemoryPseudonymVault(new byte[32]);
        Anonymizer anonymizer = new(EntityAnalyzer.CreateDefault(), s_keys, vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        string text = anonymizer.Anonymize("Michael Turner met Sarah Mitchell. Later Mr. Turner called Dr. Mitchell.", policy, new("c")).Text;
        Assert.Equal("<PERSON_1> met <PERSON_2>. Later <PERSON_1> called <PERSON_2>.", text);
    }

    [Fact]
    public void Deanonymize_AllowedCaller_RestoresRealValues()
    {
        var vault = new InMemoryPseudonymVault(new byte[32]);
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize, AllowDeanonymization = true };
        var context = new AnonymizationContext("conv-1");
        string anonymized = anonymizer.Anonymize("Jane Doe emailed a@contoso.com.", policy, context).Text;
        Assert.Equal("<PERSON_1> emailed <EMAIL_ADDRESS_1>.", anonymized);
        DeanonymizationResult restored = anonymizer.Deanonymize("Answer: <PERSON_1> should write to <EMAIL_ADDRESS_1>; <PERSON_9> is unknown.", policy, context);
        Assert.Equal("Answer: Jane Doe should write to a@contoso.com; <PERSON_9> is unknown.", restored.Text);
        Assert.Equal(2, restored.Restored);
    }

    [Fact]
    public void Deanonymize_PolicyDoesNotAllow_Throws()
    {
        var vault = new InMemoryPseudonymVault(new byte[32]);
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        anonymizer.Anonymize("Jane Doe", policy, new("c"));
        Assert.Throws<DeanonymizationDeniedException>(() => anonymizer.Deanonymize("<PERSON_1>", policy, new("c")));
    }

    [Fact]
    public async Task Vault_ExpiredConversation_ForgetsMapping()
    {
        var clock = new ManualClock();
        var vault = new InMemoryPseudonymVault(new byte[32], TimeSpan.FromMinutes(10), clock);
        await vault.GetOrAddAsync("c", [new PseudonymSubject(EntityTypes.Person, "id:jane", "Jane Doe")]);
        Assert.Single(await vault.GetEntriesAsync("c"));
        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Empty(await vault.GetEntriesAsync("c"));
        Assert.Equal("<PERSON_1>", (await vault.GetOrAddAsync("c", [new PseudonymSubject(EntityTypes.Person, "id:bob", "Bob")]))[0].Pseudonym);
    }

    [Fact]
    public async Task AnonymizeAsync_VaultOutsideTheProcess_ReadsOnceAndWritesNewSubjectsInOneBatch()
    {
        var inner = new InMemoryPseudonymVault(new byte[32]);
        int reads = 0, writes = 0;
        var vault = new FakeVault(inner)
        {
            OnGetEntries = () => reads++,
            OnGetOrAdd = subjects =>
            {
                writes++;
                Assert.Equal(["id:jane", "id:rjohnson"], subjects.Select(s => s.SubjectKey));
            },
        };
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize, AllowDeanonymization = true };
        AnonymizerResult r = await anonymizer.AnonymizeAsync("Jane Doe thanked Robert Johnson; Ms. Doe agreed.", policy, new("c"));
        Assert.Equal("<PERSON_1> thanked <PERSON_2>; <PERSON_1> agreed.", r.Text);
        Assert.Equal((1, 1), (reads, writes));
        DeanonymizationResult restored = await anonymizer.DeanonymizeAsync("<PERSON_2> and <PERSON_1>", policy, new("c"));
        Assert.Equal("Robert Johnson and Jane Doe", restored.Text);
    }

    [Fact]
    public void Anonymize_SynchronousCallWithVaultOutsideTheProcess_ThrowsBeforeTouchingTheVault()
    {
        int calls = 0;
        var vault = new FakeVault(new InMemoryPseudonymVault(new byte[32])) { OnGetEntries = () => calls++, OnGetOrAdd = _ => calls++ };
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize, AllowDeanonymization = true };
        Assert.Throws<InvalidOperationException>(() => anonymizer.Anonymize("Jane Doe", policy, new("c")));
        Assert.Throws<InvalidOperationException>(() => anonymizer.Deanonymize("<PERSON_1>", policy, new("c")));
        Assert.Equal(0, calls);

        // Without the pseudonymize operator the vault is not needed, so the synchronous call works.
        Assert.Equal("<PERSON>", anonymizer.Anonymize("Jane Doe", AnonymizationPolicy.Default, new("c")).Text);
    }

    [Fact]
    public async Task AnonymizeAsync_VaultCannotPersist_FailsWithoutText()
    {
        var vault = new FakeVault(new InMemoryPseudonymVault(new byte[32])) { OnGetOrAdd = _ => throw new IOException("disk full") };
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        await Assert.ThrowsAsync<IOException>(async () => await anonymizer.AnonymizeAsync("Jane Doe called.", policy, new("c")));
    }

    [Fact]
    public async Task AnonymizeAsync_VaultAnswersForOtherSubjects_FailsClosed()
    {
        var vault = new FakeVault(new InMemoryPseudonymVault(new byte[32]))
        {
            Rewrite = entries => [.. entries.Select(e => e with { SubjectKey = "id:someone-else" })],
        };
        Anonymizer anonymizer = Create(vault);
        var policy = new AnonymizationPolicy { DefaultOperator = AnonymizationOperator.Pseudonymize };
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await anonymizer.AnonymizeAsync("Jane Doe called.", policy, new("c")));
    }

    /// <summary>A vault that completes asynchronously, as one outside the process does, over an in-memory vault.</summary>
    private sealed class FakeVault(InMemoryPseudonymVault inner) : IPseudonymVault
    {
        public Action? OnGetEntries { get; init; }

        public Action<IReadOnlyList<PseudonymSubject>>? OnGetOrAdd { get; init; }

        public Func<IReadOnlyList<PseudonymEntry>, IReadOnlyList<PseudonymEntry>>? Rewrite { get; init; }

        public async ValueTask<IReadOnlyList<PseudonymEntry>> GetEntriesAsync(string conversationId, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            OnGetEntries?.Invoke();
            return await inner.GetEntriesAsync(conversationId, cancellationToken);
        }

        public async ValueTask<IReadOnlyList<PseudonymEntry>> GetOrAddAsync(string conversationId, IReadOnlyList<PseudonymSubject> subjects, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            OnGetOrAdd?.Invoke(subjects);
            IReadOnlyList<PseudonymEntry> entries = await inner.GetOrAddAsync(conversationId, subjects, cancellationToken);
            return Rewrite is null ? entries : Rewrite(entries);
        }

        public async ValueTask<bool> RemoveAsync(string conversationId, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            return await inner.RemoveAsync(conversationId, cancellationToken);
        }
    }

    [Fact]
    public void Anonymize_RandomizedEntities_NeverLeaveOriginalValue()
    {
        var random = new Random(1234);
        Anonymizer anonymizer = Create();
        string[] templates = ["Contact {0} today.", "Send it to {0}, thanks.", "Value: {0}", "({0})"];
        for (int i = 0; i < 300; i++)
        {
            string value = (i % 4) switch
            {
                0 => $"user{random.Next(100000)}.x@corp{random.Next(100)}.com",
                1 => $"+1 ({random.Next(200, 999)}) {random.Next(200, 999)}-{random.Next(1000, 9999)}",
                2 => $"{random.Next(1, 255)}.{random.Next(256)}.{random.Next(256)}.{random.Next(256)}",
                _ => Guid.NewGuid().ToString(),
            };
            string text = string.Format(System.Globalization.CultureInfo.InvariantCulture, templates[random.Next(templates.Length)], value);
            AnonymizerResult r = anonymizer.Anonymize(text, AnonymizationPolicy.Default, new());
            Assert.DoesNotContain(value, r.Text, StringComparison.Ordinal);
        }
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

public sealed class DictionaryRecognizerTests
{
    [Theory]
    [InlineData("Jane Alice Doe signed.", "Jane Alice Doe")]
    [InlineData("Ask Jane Doe.", "Jane Doe")]
    [InlineData("Ask jane doe.", "jane doe")]
    [InlineData("Ask Jane A. Doe.", "Jane A. Doe")]
    [InlineData("Ask J. Doe.", "J. Doe")]
    [InlineData("Filed by Doe, Jane yesterday.", "Doe, Jane")]
    [InlineData("Ask Ms. Doe.", "Ms. Doe")]
    [InlineData("That is Jane Doe's laptop.", "Jane Doe")]
    public void Recognize_NameVariant_ReportsSubject(string text, string expected)
    {
        var r = DictionaryRecognizer.Create([("Jane Alice Doe", EntityTypes.Person, "jane")]);
        var results = new List<EntitySpan>();
        r.Recognize(text, results);
        EntitySpan e = Assert.Single(results);
        Assert.Equal(expected, text[e.Start..e.End]);
        Assert.Equal("jane", e.SubjectId);
    }

    [Theory]
    [InlineData("ask j. doe")]
    [InlineData("the doe ran off")]
    [InlineData("Janet Doerr called.")]
    public void Recognize_UnsafeLowercaseOrOtherName_ReportsNothing(string text)
    {
        var r = DictionaryRecognizer.Create([("Jane Alice Doe", EntityTypes.Person, "jane")]);
        var results = new List<EntitySpan>();
        r.Recognize(text, results);
        Assert.Empty(results);
    }

    [Fact]
    public void Recognize_CommonWordName_NeedsCapitals()
    {
        var r = DictionaryRecognizer.Create([("Will Long", EntityTypes.Person, "w")]);
        var results = new List<EntitySpan>();
        r.Recognize("it will long be remembered; Will Long agreed", results);
        EntitySpan e = Assert.Single(results);
        Assert.Equal(28, e.Start);
    }
}

public sealed class CustomRecognizersTests
{
    [Fact]
    public void Create_ValidDefinition_FindsAndScoresWithContext()
    {
        IEntityRecognizer r = CustomRecognizers.Create(
        [
            new CustomRecognizerDefinition("employee-id", "EMPLOYEE_ID", @"\bEMP-\d{6}\b", 0.5) { ContextWords = ["employee"] },
        ]);
        var results = new List<EntitySpan>();
        r.Recognize("Employee EMP-123456 and EMP-654321.", results);
        Assert.Equal(2, results.Count);
        Assert.Equal(0.85, results[0].Score, 3);
    }

    [Fact]
    public void Create_LuhnValidator_DropsChecksumFailures()
    {
        IEntityRecognizer r = CustomRecognizers.Create([new CustomRecognizerDefinition("card", "LOYALTY_CARD", @"\b\d{16}\b") { Validator = "luhn" }]);
        var results = new List<EntitySpan>();
        r.Recognize("4111111111111111 4111111111111112", results);
        Assert.Single(results);
    }

    [Fact]
    public void Create_InvalidDefinitions_ReportsEveryError()
    {
        var ex = Assert.Throws<AnonymizationConfigurationException>(() => CustomRecognizers.Create(
        [
            new CustomRecognizerDefinition("a", "bad type", "(unclosed", 1.5) { Validator = "md5" },
            new CustomRecognizerDefinition("a", "OK_TYPE", "x*"),
        ]));
        Assert.Contains(ex.Errors, e => e.Contains("entity_type", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("score", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("validator 'md5'", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("not a valid regular expression", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("used twice", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Contains("empty string", StringComparison.Ordinal));
    }
}

public sealed class OverlapResolverTests
{
    [Fact]
    public void Resolve_Overlaps_HigherScoreThenLongerWins()
    {
        var spans = new List<EntitySpan>
        {
            new("A", 0, 10, 0.5),
            new("B", 5, 12, 0.9),
            new("C", 12, 20, 0.4),
            new("D", 12, 22, 0.4),
            new("E", 30, 31, 0.1),
        };
        IReadOnlyList<EntitySpan> kept = OverlapResolver.Resolve(spans, 0.3);
        Assert.Equal(["B", "D"], kept.Select(k => k.Type));
    }
}
