using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Anonymization;
using CopilotGuard.Connectors.Sqlite.Tests.Audit;
using Microsoft.Data.Sqlite;

namespace CopilotGuard.Connectors.Sqlite.Tests;

public sealed class SqlitePseudonymVaultTests : IDisposable
{
    private static readonly byte[] s_key = [.. Enumerable.Range(1, 32).Select(static i => (byte)i)];
    private static readonly AnonymizerKeys s_anonymizerKeys = new(new byte[32], s_key);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string VaultPath => _folder.File("vault.db");

    private SqlitePseudonymVault Vault(TimeProvider? clock = null, TimeSpan? ttl = null) => new(VaultPath, s_key, ttl, clock);

    private static Anonymizer Anonymizer(IPseudonymVault vault) => new(
        EntityAnalyzer.CreateDefault(DictionaryRecognizer.Create([("Jane Alice Doe", EntityTypes.Person, "jane"), ("Robert Johnson", EntityTypes.Person, "rjohnson")])),
        s_anonymizerKeys,
        vault);

    private static AnonymizationPolicy Pseudonymize => new() { DefaultOperator = AnonymizationOperator.Pseudonymize, AllowDeanonymization = true };

    [Fact]
    public async Task AnonymizeAsync_NewVaultInstanceOverTheSameFile_KeepsPlaceholdersAndRestoresValues()
    {
        var context = new AnonymizationContext("conversation-1");
        AnonymizerResult first = await Anonymizer(Vault()).AnonymizeAsync("Jane Doe thanked Robert Johnson at a@contoso.com.", Pseudonymize, context);
        Assert.Equal("<PERSON_1> thanked <PERSON_2> at <EMAIL_ADDRESS_1>.", first.Text);
        SqliteConnection.ClearAllPools();

        // A restart: a new vault and anonymizer over the same file.
        Anonymizer restarted = Anonymizer(Vault());
        AnonymizerResult second = await restarted.AnonymizeAsync("Later Mr. Johnson wrote to Ms. Doe and b@contoso.com.", Pseudonymize, context);
        Assert.Equal("Later <PERSON_2> wrote to <PERSON_1> and <EMAIL_ADDRESS_2>.", second.Text);
        DeanonymizationResult restored = await restarted.DeanonymizeAsync("<PERSON_1> asked <PERSON_2> to mail <EMAIL_ADDRESS_1>.", Pseudonymize, context);
        Assert.Equal("Jane Doe asked Robert Johnson to mail a@contoso.com.", restored.Text);
        Assert.Equal(3, restored.Restored);

        // Another conversation numbers its own subjects.
        Assert.Equal("<PERSON_1> called.", (await restarted.AnonymizeAsync("Robert Johnson called.", Pseudonymize, new("conversation-2"))).Text);
    }

    [Fact]
    public async Task GetOrAddAsync_SameSubjectTwice_KeepsFirstValueAndNumber()
    {
        SqlitePseudonymVault vault = Vault();
        IReadOnlyList<PseudonymEntry> added = await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe"), new(EntityTypes.Person, "id:bob", "Bob"), new(EntityTypes.Person, "id:jane", "Ms. Doe")]);
        Assert.Equal(["<PERSON_1>", "<PERSON_2>", "<PERSON_1>"], added.Select(static e => e.Pseudonym));
        Assert.Equal("Jane Doe", added[2].OriginalValue);
        IReadOnlyList<PseudonymEntry> entries = await vault.GetEntriesAsync("c");
        Assert.Equal([("<PERSON_1>", "id:jane", "Jane Doe"), ("<PERSON_2>", "id:bob", "Bob")], entries.Select(static e => (e.Pseudonym, e.SubjectKey, e.OriginalValue)));
    }

    [Fact]
    public async Task GetEntriesAsync_IdleLongerThanTimeToLive_ForgetsAndPurgesRows()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        SqlitePseudonymVault vault = Vault(clock, TimeSpan.FromMinutes(10));
        await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]);
        await vault.GetOrAddAsync("kept", [new(EntityTypes.Person, "id:bob", "Bob")]);

        // Use within the time to live slides the expiry.
        clock.Now += TimeSpan.FromMinutes(8);
        Assert.Single(await vault.GetEntriesAsync("kept"));
        clock.Now += TimeSpan.FromMinutes(3);
        Assert.Empty(await vault.GetEntriesAsync("c"));
        Assert.Single(await vault.GetEntriesAsync("kept"));

        Assert.Equal(1, await vault.PurgeExpiredAsync());
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM pseudonyms"));
        IReadOnlyList<PseudonymEntry> fresh = await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:bob", "Bob")]);
        Assert.Equal("<PERSON_1>", fresh[0].Pseudonym);
    }

    [Fact]
    public async Task GetOrAddAsync_ExpiredConversationWrittenAgain_StartsNumberingAfresh()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        SqlitePseudonymVault vault = Vault(clock, TimeSpan.FromMinutes(10));
        await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe"), new(EntityTypes.Person, "id:bob", "Bob")]);
        clock.Now += TimeSpan.FromMinutes(11);
        IReadOnlyList<PseudonymEntry> after = await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:bob", "Bob")]);
        Assert.Equal("<PERSON_1>", after[0].Pseudonym);
        Assert.Single(await vault.GetEntriesAsync("c"));
    }

    [Fact]
    public async Task GetOrAddAsync_ParallelCallsOnOneConversation_GiveEachSubjectOneNumberAndEachNumberOneSubject()
    {
        SqlitePseudonymVault vault = Vault();
        await vault.InitializeAsync();
        const int Subjects = 12;
        var random = new Random(5);
        var calls = Enumerable.Range(0, 48).Select(i =>
        {
            // Each call asks for a random subset of the subjects, in a random order.
            PseudonymSubject[] subset = [.. Enumerable.Range(0, Subjects).OrderBy(_ => random.Next()).Take(random.Next(1, 5)).Select(s => new PseudonymSubject(EntityTypes.Person, $"id:{s}", $"Person {s}"))];
            return (subset, task: Task.Run(async () => await vault.GetOrAddAsync("race", subset)));
        }).ToList();
        await Task.WhenAll(calls.Select(static c => c.task));

        var numberOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((PseudonymSubject[] subset, Task<IReadOnlyList<PseudonymEntry>> task) in calls)
        {
            IReadOnlyList<PseudonymEntry> result = await task;
            for (int i = 0; i < subset.Length; i++)
            {
                Assert.Equal(subset[i].SubjectKey, result[i].SubjectKey);
                Assert.Equal(numberOf.GetValueOrDefault(subset[i].SubjectKey, result[i].Pseudonym), result[i].Pseudonym);
                numberOf[subset[i].SubjectKey] = result[i].Pseudonym;
            }
        }

        Assert.Equal(numberOf.Count, numberOf.Values.Distinct(StringComparer.Ordinal).Count());
        IReadOnlyList<PseudonymEntry> stored = await vault.GetEntriesAsync("race");
        Assert.Equal(numberOf.Count, stored.Count);
        Assert.Equal(Enumerable.Range(1, stored.Count).Select(static n => $"<PERSON_{n}>").Order(), stored.Select(static e => e.Pseudonym).Order());
    }

    [Fact]
    public async Task GetOrAddAsync_TwoInstancesOnOneFile_AgreeOnNumbers()
    {
        SqlitePseudonymVault a = Vault();
        var b = new SqlitePseudonymVault(VaultPath, s_key);
        await Task.WhenAll(a.InitializeAsync(), b.InitializeAsync());
        var tasks = Enumerable.Range(0, 40).Select(i =>
        {
            SqlitePseudonymVault vault = i % 2 == 0 ? a : b;
            var subject = new PseudonymSubject(EntityTypes.EmailAddress, $"value:user{i % 10}@contoso.com", $"user{i % 10}@contoso.com");
            return Task.Run(async () => (subject.SubjectKey, (await vault.GetOrAddAsync("shared", [subject]))[0].Pseudonym));
        }).ToList();
        (string Key, string Pseudonym)[] results = await Task.WhenAll(tasks);
        foreach (var group in results.GroupBy(static r => r.Key))
        {
            Assert.Single(group.Select(static r => r.Pseudonym).Distinct());
        }

        Assert.Equal(10, results.Select(static r => r.Pseudonym).Distinct().Count());
        Assert.Equal(
            (await a.GetEntriesAsync("shared")).Select(static e => (e.Pseudonym, e.SubjectKey)),
            (await b.GetEntriesAsync("shared")).Select(static e => (e.Pseudonym, e.SubjectKey)));
    }

    [Fact]
    public async Task GetEntriesAsync_TamperedCiphertext_IsRejected()
    {
        SqlitePseudonymVault vault = Vault();
        await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]);
        byte[] sealedValue = (byte[])(await ScalarAsync("SELECT original_value FROM pseudonyms"))!;
        sealedValue[^1] ^= 0x01;
        await ExecuteAsync("UPDATE pseudonyms SET original_value = $v", ("$v", sealedValue));
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await vault.GetEntriesAsync("c"));
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]));
    }

    [Fact]
    public async Task GetEntriesAsync_RowsSwappedBetweenNumbers_AreRejected()
    {
        SqlitePseudonymVault vault = Vault();
        await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe"), new(EntityTypes.Person, "id:bob", "Bob")]);

        // Moving Bob's sealed value onto number 1 must not make <PERSON_1> restore to Bob.
        await ExecuteAsync("UPDATE pseudonyms SET original_value = (SELECT original_value FROM pseudonyms WHERE number = 2) WHERE number = 1");
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await vault.GetEntriesAsync("c"));
    }

    [Fact]
    public async Task GetEntriesAsync_WrongKey_IsRejected()
    {
        await Vault().GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]);
        var stranger = new SqlitePseudonymVault(VaultPath, RandomNumberGenerator.GetBytes(32));

        // Another key derives another conversation key: the stranger sees nothing, and cannot read the rows it finds by scanning.
        Assert.Empty(await stranger.GetEntriesAsync("c"));
    }

    [Fact]
    public async Task File_AfterWrites_HoldsNoValueSubjectOrConversationInPlaintext()
    {
        SqlitePseudonymVault vault = Vault();
        Anonymizer anonymizer = Anonymizer(vault);
        await anonymizer.AnonymizeAsync("Zelda Quixote-Marchbanks mailed zelda.q@example.org about Robert Johnson.", Pseudonymize, new("conversation-secret-42"));
        SqliteConnection.ClearAllPools();
        byte[] bytes = [.. Directory.GetFiles(_folder.Path).SelectMany(File.ReadAllBytes)];
        Assert.NotEmpty(bytes);
        foreach (string secret in (string[])["Zelda", "Quixote", "zelda.q@example.org", "Robert Johnson", "rjohnson", "conversation-secret-42"])
        {
            Assert.False(Contains(bytes, Encoding.UTF8.GetBytes(secret)), $"'{secret}' is stored in plaintext.");
            Assert.False(Contains(bytes, Encoding.Unicode.GetBytes(secret)), $"'{secret}' is stored in plaintext (UTF-16).");
        }
    }

    [Fact]
    public async Task RemoveAsync_Conversation_DeletesItsRowsOnly()
    {
        SqlitePseudonymVault vault = Vault();
        await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]);
        await vault.GetOrAddAsync("d", [new(EntityTypes.Person, "id:jane", "Jane Doe")]);
        Assert.True(await vault.RemoveAsync("c"));
        Assert.False(await vault.RemoveAsync("c"));
        Assert.Empty(await vault.GetEntriesAsync("c"));
        Assert.Single(await vault.GetEntriesAsync("d"));
    }

    [Fact]
    public async Task GetOrAddAsync_BadInput_IsRefusedAndWritesNothing()
    {
        SqlitePseudonymVault vault = Vault();
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe"), null!]));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await vault.GetOrAddAsync("c", [new(string.Empty, "id:jane", "Jane Doe")]));
        Assert.Empty(await vault.GetEntriesAsync("c"));
        Assert.Throws<ArgumentException>(() => new SqlitePseudonymVault(VaultPath, new byte[16]));
    }

    [Fact]
    public async Task AnonymizeAsync_VaultFileUnwritable_FailsWithoutText()
    {
        string blocked = Path.Combine(_folder.File("not-a-folder"), "vault.db");
        await File.WriteAllTextAsync(_folder.File("not-a-folder"), "a file where the folder should be");
        Anonymizer anonymizer = Anonymizer(new SqlitePseudonymVault(blocked, s_key));
        await Assert.ThrowsAsync<SqliteException>(async () => await anonymizer.AnonymizeAsync("Jane Doe called.", Pseudonymize, new("c")));
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={VaultPath}");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new SqliteConnection($"Data Source={VaultPath}");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, object value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
