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
    private readonly List<SqlitePseudonymVault> _vaults = [];

    public void Dispose()
    {
        foreach (SqlitePseudonymVault vault in _vaults)
        {
            vault.Dispose();
        }

        _folder.Dispose();
    }

    private string VaultPath => _folder.File("vault.db");

    private SqlitePseudonymVault Vault(TimeProvider? clock = null, TimeSpan? ttl = null) => Track(new(VaultPath, s_key, ttl, clock));

    private SqlitePseudonymVault Track(SqlitePseudonymVault vault)
    {
        _vaults.Add(vault);
        return vault;
    }

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
        SqlitePseudonymVault b = Track(new SqlitePseudonymVault(VaultPath, s_key));
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
        SqlitePseudonymVault stranger = Track(new SqlitePseudonymVault(VaultPath, RandomNumberGenerator.GetBytes(32)));

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
        Anonymizer anonymizer = Anonymizer(Track(new SqlitePseudonymVault(blocked, s_key)));
        await Assert.ThrowsAsync<SqliteException>(async () => await anonymizer.AnonymizeAsync("Jane Doe called.", Pseudonymize, new("c")));
    }

    [Fact]
    public async Task ManySequentialCalls_ReuseOneConnectionAndItsPreparedStatements_AndMatchAFreshVault()
    {
        SqlitePseudonymVault vault = Vault();
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        int preparedAtHalfway = 0;
        for (int i = 0; i < 2_000; i++)
        {
            if (i == 1_000)
            {
                preparedAtHalfway = vault.StatementsPrepared;
            }

            if (i % 2 == 1)
            {
                IReadOnlyList<PseudonymEntry> entries = await vault.GetEntriesAsync("c");
                Assert.Equal(expected.Count, entries.Count);
                Assert.All(entries, e => Assert.Equal(expected[e.SubjectKey], e.Pseudonym));
                continue;
            }

            // Two types, 60 subjects, each call naming two of them (often one already numbered, one new).
            PseudonymSubject[] subjects = [Subject(i / 2 % 60), Subject((i / 2 * 7) % 60)];
            IReadOnlyList<PseudonymEntry> added = await vault.GetOrAddAsync("c", subjects);
            for (int k = 0; k < subjects.Length; k++)
            {
                PseudonymSubject subject = subjects[k];
                if (!expected.ContainsKey(subject.SubjectKey))
                {
                    int next = counts[subject.EntityType] = counts.GetValueOrDefault(subject.EntityType) + 1;
                    expected[subject.SubjectKey] = $"<{subject.EntityType}_{next}>";
                }

                Assert.Equal((expected[subject.SubjectKey], subject.SubjectKey, subject.OriginalValue), (added[k].Pseudonym, added[k].SubjectKey, added[k].OriginalValue));
            }
        }

        // One connection served every call, and nothing was prepared again in the second thousand calls.
        Assert.Equal(1, vault.ConnectionsOpened);
        Assert.Equal(preparedAtHalfway, vault.StatementsPrepared);
        Assert.InRange(vault.StatementsPrepared, 1, 16);

        IReadOnlyList<PseudonymEntry> final = await vault.GetEntriesAsync("c");
        Assert.Equal(60, final.Count);
        using SqlitePseudonymVault fresh = new(VaultPath, s_key);
        Assert.Equal(
            final.Select(static e => (e.Pseudonym, e.EntityType, e.SubjectKey, e.OriginalValue)),
            (await fresh.GetEntriesAsync("c")).Select(static e => (e.Pseudonym, e.EntityType, e.SubjectKey, e.OriginalValue)));

        static PseudonymSubject Subject(int n) => n % 3 == 0
            ? new(EntityTypes.EmailAddress, $"value:user{n}@contoso.com", $"user{n}@contoso.com")
            : new(EntityTypes.Person, $"id:{n}", $"Person {n}");
    }

    [Fact]
    public async Task GetOrAddAsync_FailureMidTransaction_RollsBackClosesTheConnectionAndTheNextCallWorks()
    {
        SqlitePseudonymVault vault = Vault();
        await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]);
        Assert.Equal(1, vault.ConnectionsOpened);

        // Another connection adds a trigger that fails the insert of number 3, after number 2 is already written.
        await ExecuteAsync("CREATE TRIGGER fail_third BEFORE INSERT ON pseudonyms WHEN NEW.number = 3 BEGIN SELECT RAISE(ABORT, 'forced failure'); END");
        PseudonymSubject[] subjects = [new(EntityTypes.Person, "id:bob", "Bob"), new(EntityTypes.Person, "id:carol", "Carol")];
        await Assert.ThrowsAsync<SqliteException>(async () => await vault.GetOrAddAsync("c", subjects));

        // Nothing half-written remains (Bob's row was rolled back) and the write lock is free.
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM pseudonyms"));
        await AssertWriteLockIsFreeAsync();
        Assert.Equal(["<PERSON_1>"], (await vault.GetEntriesAsync("c")).Select(static e => e.Pseudonym));

        // The failed connection was closed, not reused; the next call numbers as if the failed one never happened.
        await ExecuteAsync("DROP TRIGGER fail_third");
        Assert.Equal(["<PERSON_2>", "<PERSON_3>"], (await vault.GetOrAddAsync("c", subjects)).Select(static e => e.Pseudonym));
        Assert.Equal(2, vault.ConnectionsOpened);

        // A row that fails to decrypt fails the call the same way, without leaving the transaction or its lock behind.
        await ExecuteAsync("UPDATE pseudonyms SET original_value = zeroblob(40) WHERE number = 1");
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:dave", "Dave"), new(EntityTypes.Person, "id:jane", "Jane Doe")]));
        await AssertWriteLockIsFreeAsync();
        Assert.Equal(3L, await ScalarAsync("SELECT count(*) FROM pseudonyms"));
        Assert.Equal("<PERSON_1>", (await vault.GetOrAddAsync("d", [new(EntityTypes.Person, "id:dave", "Dave")]))[0].Pseudonym);
    }

    [Fact]
    public async Task Calls_CanceledBeforeTheyStart_WriteNothingAndTheNextCallWorks()
    {
        SqlitePseudonymVault vault = Vault();
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")], canceled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await vault.GetEntriesAsync("c", canceled.Token));
        Assert.Empty(await vault.GetEntriesAsync("c"));
        Assert.Equal("<PERSON_1>", (await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]))[0].Pseudonym);
    }

    [Fact]
    public async Task DisposeAsync_ClosesEveryConnection_SoTheFileCanBeDeleted()
    {
        SqlitePseudonymVault vault = Vault();

        // Several connections in the pool: parallel readers while a writer works.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            _ = i % 4 == 0
                ? await vault.GetOrAddAsync("c", [new(EntityTypes.Person, $"id:{i}", $"Person {i}")])
                : await vault.GetEntriesAsync("c");
        })));
        Assert.True(File.Exists(VaultPath + "-wal"));

        await vault.DisposeAsync();

        // SQLite checkpoints and removes the write-ahead log when the last connection to the file closes.
        Assert.False(File.Exists(VaultPath + "-wal"));
        File.Delete(VaultPath);
        Assert.False(File.Exists(VaultPath));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await vault.GetEntriesAsync("c"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await vault.GetOrAddAsync("c", [new(EntityTypes.Person, "id:jane", "Jane Doe")]));
        vault.Dispose();
    }

    [Fact]
    public async Task Connections_KeepSynchronousFullAndTheBusyTimeoutAcrossCalls()
    {
        SqlitePseudonymVault vault = Vault();
        for (int i = 0; i < 20; i++)
        {
            await vault.GetOrAddAsync("c", [new(EntityTypes.Person, $"id:{i % 5}", $"Person {i % 5}")]);
            await vault.GetEntriesAsync("c");
        }

        Assert.Equal(2L, await vault.ReadPragmaAsync("synchronous"));
        Assert.Equal(30_000L, await vault.ReadPragmaAsync("busy_timeout"));
    }

    [Fact]
    public async Task GetOrAddAsync_KnownSubjectsOnly_ExtendTheExpiryAtMostOncePerHundredthOfTheTimeToLive()
    {
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var clock = new ManualClock(t0);
        SqlitePseudonymVault vault = Vault(clock, TimeSpan.FromMinutes(100));
        PseudonymSubject jane = new(EntityTypes.Person, "id:jane", "Jane Doe");
        await vault.GetOrAddAsync("c", [jane]);
        Assert.Equal(t0.AddMinutes(100).ToUnixTimeMilliseconds(), await ScalarAsync("SELECT expires_at FROM conversations"));

        // Within a minute (a hundredth of 100 minutes) a call that adds nothing commits without writing.
        clock.Now = t0.AddSeconds(30);
        await vault.GetOrAddAsync("c", [jane]);
        Assert.Equal(t0.AddMinutes(100).ToUnixTimeMilliseconds(), await ScalarAsync("SELECT expires_at FROM conversations"));

        clock.Now = t0.AddMinutes(2);
        await vault.GetOrAddAsync("c", [jane]);
        Assert.Equal(t0.AddMinutes(102).ToUnixTimeMilliseconds(), await ScalarAsync("SELECT expires_at FROM conversations"));

        // A call that adds a pseudonym always extends it.
        clock.Now = t0.AddMinutes(2).AddSeconds(10);
        await vault.GetOrAddAsync("c", [jane, new(EntityTypes.Person, "id:bob", "Bob")]);
        Assert.Equal(t0.AddMinutes(102).AddSeconds(10).ToUnixTimeMilliseconds(), await ScalarAsync("SELECT expires_at FROM conversations"));
    }

    [Fact]
    public async Task ExistingFile_WrittenInTheOriginalFormat_IsReadAndExtended()
    {
        // The schema and row format of the first release, written without the vault.
        await ExecuteAsync("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE conversations (conversation_key TEXT NOT NULL PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX conversations_by_expiry ON conversations (expires_at);
            CREATE TABLE pseudonyms (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                conversation_key TEXT NOT NULL,
                entity_type TEXT NOT NULL,
                number INTEGER NOT NULL CHECK (number > 0),
                subject_lookup TEXT NOT NULL,
                subject_key BLOB NOT NULL,
                original_value BLOB NOT NULL,
                UNIQUE (conversation_key, entity_type, number),
                UNIQUE (conversation_key, entity_type, subject_lookup));
            """);
        var cipher = new VaultCipher(s_key);
        string ck = cipher.ConversationKey("legacy");
        const string Type = "PERSON";
        byte[] Sealed(string value, string column) => cipher.Seal(Encoding.UTF8.GetBytes(value), Encoding.UTF8.GetBytes($"copilotguard-pseudonym|{ck}|{Type.Length}:{Type}|1|{column}"));
        await ExecuteAsync(
            "INSERT INTO pseudonyms (conversation_key, entity_type, number, subject_lookup, subject_key, original_value) VALUES ($ck, $type, 1, $lookup, $key, $value)",
            ("$ck", ck), ("$type", Type), ("$lookup", cipher.SubjectLookupKey(ck, Type, "id:jane")), ("$key", Sealed("id:jane", "key")), ("$value", Sealed("Jane Doe", "value")));
        await ExecuteAsync("INSERT INTO conversations (conversation_key, expires_at) VALUES ($ck, $expires)", ("$ck", ck), ("$expires", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds()));

        SqlitePseudonymVault vault = Vault();
        Assert.Equal([("<PERSON_1>", "id:jane", "Jane Doe")], (await vault.GetEntriesAsync("legacy")).Select(static e => (e.Pseudonym, e.SubjectKey, e.OriginalValue)));
        IReadOnlyList<PseudonymEntry> added = await vault.GetOrAddAsync("legacy", [new(Type, "id:bob", "Bob"), new(Type, "id:jane", "Ms. Doe")]);
        Assert.Equal([("<PERSON_2>", "Bob"), ("<PERSON_1>", "Jane Doe")], added.Select(static e => (e.Pseudonym, e.OriginalValue)));

        // What the vault writes opens with the same associated data.
        await using var connection = new SqliteConnection($"Data Source={VaultPath}");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT subject_key, original_value FROM pseudonyms WHERE number = 2";
        await using SqliteDataReader reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        string ad = $"copilotguard-pseudonym|{ck}|{Type.Length}:{Type}|2|";
        Assert.Equal("id:bob", cipher.Unprotect((byte[])reader.GetValue(0), ad + "key"));
        Assert.Equal("Bob", cipher.Unprotect((byte[])reader.GetValue(1), ad + "value"));
    }

    [Fact]
    public async Task ParallelReadersAndWritersOnTwoInstances_SeeOnlyCommittedConsistentMappings()
    {
        SqlitePseudonymVault a = Vault();
        SqlitePseudonymVault b = Track(new SqlitePseudonymVault(VaultPath, s_key));
        await Task.WhenAll(a.InitializeAsync(), b.InitializeAsync());
        var observed = new System.Collections.Concurrent.ConcurrentBag<PseudonymEntry>();
        await Task.WhenAll(Enumerable.Range(0, 32).Select(worker => Task.Run(async () =>
        {
            SqlitePseudonymVault vault = worker % 2 == 0 ? a : b;
            for (int j = 0; j < 12; j++)
            {
                IReadOnlyList<PseudonymEntry> entries = j % 3 == 0
                    ? await vault.GetOrAddAsync("mix", [new(EntityTypes.Person, $"id:{(worker + j) % 16}", $"Person {(worker + j) % 16}")])
                    : await vault.GetEntriesAsync("mix");
                foreach (PseudonymEntry entry in entries)
                {
                    observed.Add(entry);
                }
            }
        })));

        IReadOnlyList<PseudonymEntry> final = await a.GetEntriesAsync("mix");
        Assert.Equal(final.Count, final.Select(static e => e.Pseudonym).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, final.Count).Select(static n => $"<PERSON_{n}>").Order(), final.Select(static e => e.Pseudonym).Order());
        var bySubject = final.ToDictionary(static e => e.SubjectKey, static e => e.Pseudonym, StringComparer.Ordinal);
        Assert.All(observed, e => Assert.Equal(bySubject[e.SubjectKey], e.Pseudonym));
    }

    private async Task AssertWriteLockIsFreeAsync()
    {
        // No busy wait: BEGIN IMMEDIATE fails within a second if a vault connection still holds the write lock.
        await using var connection = new SqliteConnection($"Data Source={VaultPath};Pooling=False;Default Timeout=1");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;";
        await command.ExecuteNonQueryAsync();
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
