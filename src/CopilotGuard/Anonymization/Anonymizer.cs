using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>Holds a tenant's anonymization keys: one for HMAC hashing, one for AES-GCM encryption.</summary>
/// <remarks>Keys are secrets: load them from a key store, never from policy files, and never log them.</remarks>
public sealed class AnonymizerKeys
{
    /// <summary>Initializes a new key set.</summary>
    /// <param name="hashKey">The HMAC-SHA256 key, at least 16 bytes; stable across requests so hashes stay comparable.</param>
    /// <param name="encryptionKey">The 32-byte AES-256-GCM key.</param>
    public AnonymizerKeys(byte[] hashKey, byte[] encryptionKey)
    {
        ArgumentNullException.ThrowIfNull(hashKey);
        ArgumentNullException.ThrowIfNull(encryptionKey);
        if (hashKey.Length < 16)
        {
            throw new ArgumentException("The hash key must be at least 16 bytes.", nameof(hashKey));
        }

        if (encryptionKey.Length != 32)
        {
            throw new ArgumentException("The encryption key must be 32 bytes.", nameof(encryptionKey));
        }

        HashKey = (byte[])hashKey.Clone();
        EncryptionKey = (byte[])encryptionKey.Clone();
    }

    internal byte[] HashKey { get; }

    internal byte[] EncryptionKey { get; }

    /// <summary>Creates keys from random bytes (tests and development only: hashes and ciphertexts do not survive a restart).</summary>
    /// <returns>The keys.</returns>
    public static AnonymizerKeys CreateRandom() => new(RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32));
}

/// <summary>Finds entities in a text and transforms them according to a policy: the anonymization facade.</summary>
/// <remarks>Thread-safe. Entity values never reach logs; results carry types, offsets and scores only.</remarks>
public sealed partial class Anonymizer
{
    private const string EncryptOperatorData = "copilotguard-encrypt-operator";

    private readonly EntityAnalyzer _analyzer;

    /// <summary>The entities of stored texts, kept with the string object (an entry goes when its string is collected):
    /// a cached chunk is analyzed once, not on every retrieval. Analysis depends only on the text and this analyzer.</summary>
    private readonly ConditionalWeakTable<string, IReadOnlyList<EntitySpan>> _storedAnalyses = new();
    private readonly ConditionalWeakTable<string, IReadOnlyList<EntitySpan>>.CreateValueCallback _analyze;
    private readonly AnonymizerKeys _keys;
    private readonly VaultCipher _encryption;
    private readonly IPseudonymVault? _vault;

    /// <summary>Initializes a new anonymizer.</summary>
    /// <param name="analyzer">The analyzer that finds entities.</param>
    /// <param name="keys">The tenant's hash and encryption keys.</param>
    /// <param name="vault">The pseudonym vault; required only by the pseudonymize operator and de-anonymization.</param>
    public Anonymizer(EntityAnalyzer analyzer, AnonymizerKeys keys, IPseudonymVault? vault = null)
    {
        ArgumentNullException.ThrowIfNull(analyzer);
        ArgumentNullException.ThrowIfNull(keys);
        _analyzer = analyzer;
        _analyze = analyzer.Analyze;
        _keys = keys;
        _encryption = new VaultCipher(keys.EncryptionKey);
        _vault = vault;
    }

    /// <summary>Finds the entities in <paramref name="text"/> without changing it.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The entities, non-overlapping, ordered by start.</returns>
    public IReadOnlyList<EntitySpan> Analyze(string text) => _analyzer.Analyze(text);

    /// <summary>Finds the entities in <paramref name="text"/> and applies the policy's operators.</summary>
    /// <param name="text">The text.</param>
    /// <param name="policy">Which operator applies to which entity type.</param>
    /// <param name="context">The conversation and other per-request facts.</param>
    /// <returns>The anonymized text, the entities (offsets in the original text) and counts per type.</returns>
    /// <remarks>The pseudonymize operator needs a vault that works in memory (<see cref="InMemoryPseudonymVault"/>) here; use <see cref="AnonymizeAsync"/> with any other vault.</remarks>
    public AnonymizerResult Anonymize(string text, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        IReadOnlyList<EntitySpan> entities = _analyzer.Analyze(text);
        return Apply(text, entities, policy, context);
    }

    /// <summary>Finds the entities in <paramref name="text"/> and applies the policy's operators, reading and persisting pseudonyms through the vault.</summary>
    /// <param name="text">The text.</param>
    /// <param name="policy">Which operator applies to which entity type.</param>
    /// <param name="context">The conversation and other per-request facts.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The anonymized text, the entities (offsets in the original text) and counts per type.</returns>
    /// <remarks>New pseudonyms are persisted before the text is returned; if the vault fails, this throws and no text is returned.</remarks>
    public ValueTask<AnonymizerResult> AnonymizeAsync(string text, AnonymizationPolicy policy, AnonymizationContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        IReadOnlyList<EntitySpan> entities = _analyzer.Analyze(text);
        return ApplyAsync(text, entities, policy, context, cancellationToken);
    }

    /// <summary>Anonymizes several texts of one context as <see cref="Anonymize"/> would one after the other, in one call.</summary>
    /// <param name="inputs">The texts, each with its policy, in order.</param>
    /// <param name="context">The conversation and other per-request facts, shared by all texts.</param>
    /// <returns>One result per input, in the same order.</returns>
    /// <remarks>The pseudonymize operator needs a vault that works in memory (<see cref="InMemoryPseudonymVault"/>) here; use <see cref="AnonymizeManyAsync(IReadOnlyList{AnonymizationInput}, AnonymizationContext, CancellationToken)"/> with any other vault.</remarks>
    public IReadOnlyList<AnonymizerResult> AnonymizeMany(IReadOnlyList<AnonymizationInput> inputs, AnonymizationContext context)
    {
        IReadOnlyList<EntitySpan>[] entities = AnalyzeAll(inputs, context);
        if (_vault is not null and not InMemoryPseudonymVault && AnyNeedsPseudonyms(inputs, entities))
        {
            throw new InvalidOperationException("This pseudonym vault stores its mapping outside the process: anonymize with AnonymizeManyAsync.");
        }

        // Without I/O (no pseudonyms, or the in-memory vault) the resolution has completed when it returns.
        ValueTask<string[]?[]?> pseudonyms = ResolvePseudonymsAsync(inputs, entities, context, CancellationToken.None);
        return pseudonyms.IsCompleted
            ? BuildAll(inputs, entities, pseudonyms.Result)
            : throw new InvalidOperationException("The pseudonym vault did not complete synchronously: anonymize with AnonymizeManyAsync.");
    }

    /// <summary>Anonymizes several texts of one context with one read of the pseudonym vault and at most one write.</summary>
    /// <param name="inputs">The texts, each with its policy, in order.</param>
    /// <param name="context">The conversation and other per-request facts, shared by all texts.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>One result per input, in the same order.</returns>
    /// <remarks>
    /// The results, and the vault afterwards, are those of calling <see cref="AnonymizeAsync"/> on each input in order:
    /// pseudonyms are numbered by first appearance across the texts, and a name variant links to a subject an earlier
    /// text introduced. New pseudonyms are persisted, in one atomic write, before any text is returned; if the vault
    /// fails, this throws and no text is returned.
    /// </remarks>
    public ValueTask<IReadOnlyList<AnonymizerResult>> AnonymizeManyAsync(IReadOnlyList<AnonymizationInput> inputs, AnonymizationContext context, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<EntitySpan>[] entities = AnalyzeAll(inputs, context);
        return ApplyAllAsync(inputs, entities, context, cancellationToken);
    }

    /// <summary>Anonymizes several texts with one policy and one context, with one read of the pseudonym vault and at most one write.</summary>
    /// <param name="texts">The texts, in order.</param>
    /// <param name="policy">Which operator applies to which entity type, for every text.</param>
    /// <param name="context">The conversation and other per-request facts, shared by all texts.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>One result per text, in the same order.</returns>
    /// <remarks>See <see cref="AnonymizeManyAsync(IReadOnlyList{AnonymizationInput}, AnonymizationContext, CancellationToken)"/>.</remarks>
    public ValueTask<IReadOnlyList<AnonymizerResult>> AnonymizeManyAsync(IReadOnlyList<string> texts, AnonymizationPolicy policy, AnonymizationContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(policy);
        var inputs = new AnonymizationInput[texts.Count];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = new AnonymizationInput(texts[i] ?? throw new ArgumentException("The texts must not be null.", nameof(texts)), policy);
        }

        return AnonymizeManyAsync(inputs, context, cancellationToken);
    }

    /// <summary>Applies the policy's operators to entities that were already found (for callers that analyze once and anonymize per destination).</summary>
    /// <param name="text">The original text.</param>
    /// <param name="entities">Non-overlapping entities in <paramref name="text"/>, ordered by start.</param>
    /// <param name="policy">Which operator applies to which entity type.</param>
    /// <param name="context">The conversation and other per-request facts.</param>
    /// <returns>The anonymized text, the entities and counts per type.</returns>
    /// <remarks>The pseudonymize operator needs a vault that works in memory (<see cref="InMemoryPseudonymVault"/>) here; use <see cref="ApplyAsync"/> with any other vault.</remarks>
    public AnonymizerResult Apply(string text, IReadOnlyList<EntitySpan> entities, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ValidateApply(text, entities, policy, context);
        if (NeedsPseudonyms(entities, policy) && _vault is not null and not InMemoryPseudonymVault)
        {
            throw new InvalidOperationException("This pseudonym vault stores its mapping outside the process: anonymize with AnonymizeAsync or ApplyAsync.");
        }

        // Without I/O (no pseudonyms, or the in-memory vault) the resolution has completed when it returns.
        ValueTask<string[]?[]?> pseudonyms = ResolvePseudonymsAsync([new AnonymizationInput(text, policy)], [entities], context, CancellationToken.None);
        return pseudonyms.IsCompleted
            ? Build(text, entities, policy, pseudonyms.Result?[0])
            : throw new InvalidOperationException("The pseudonym vault did not complete synchronously: anonymize with AnonymizeAsync or ApplyAsync.");
    }

    /// <summary>Applies the policy's operators to entities that were already found, reading and persisting pseudonyms through the vault.</summary>
    /// <param name="text">The original text.</param>
    /// <param name="entities">Non-overlapping entities in <paramref name="text"/>, ordered by start.</param>
    /// <param name="policy">Which operator applies to which entity type.</param>
    /// <param name="context">The conversation and other per-request facts.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The anonymized text, the entities and counts per type.</returns>
    public async ValueTask<AnonymizerResult> ApplyAsync(string text, IReadOnlyList<EntitySpan> entities, AnonymizationPolicy policy, AnonymizationContext context, CancellationToken cancellationToken = default)
    {
        ValidateApply(text, entities, policy, context);
        string[]?[]? pseudonyms = await ResolvePseudonymsAsync([new AnonymizationInput(text, policy)], [entities], context, cancellationToken).ConfigureAwait(false);
        return Build(text, entities, policy, pseudonyms?[0]);
    }

    /// <summary>Restores the real values behind the pseudonyms of a conversation in <paramref name="text"/> (e.g. a model's answer).</summary>
    /// <param name="text">The text with pseudonyms such as &lt;PERSON_1&gt;.</param>
    /// <param name="policy">The caller's policy; it must allow de-anonymization.</param>
    /// <param name="context">The conversation.</param>
    /// <returns>The restored text and how many pseudonyms were replaced; unknown pseudonyms are left as they are.</returns>
    /// <exception cref="DeanonymizationDeniedException">The policy does not allow de-anonymization.</exception>
    /// <remarks>The caller must audit every restoration. Needs a vault that works in memory; use <see cref="DeanonymizeAsync"/> with any other vault.</remarks>
    public DeanonymizationResult Deanonymize(string text, AnonymizationPolicy policy, AnonymizationContext context)
    {
        (IPseudonymVault vault, string conversationId) = ValidateDeanonymize(text, policy, context);
        if (vault is not InMemoryPseudonymVault)
        {
            throw new InvalidOperationException("This pseudonym vault stores its mapping outside the process: restore with DeanonymizeAsync.");
        }

        ValueTask<IReadOnlyList<PseudonymEntry>> entries = vault.GetEntriesAsync(conversationId);
        return entries.IsCompleted
            ? Restore(text, entries.Result)
            : throw new InvalidOperationException("The pseudonym vault did not complete synchronously: restore with DeanonymizeAsync.");
    }

    /// <summary>Restores the real values behind the pseudonyms of a conversation in <paramref name="text"/>, reading the mapping from the vault.</summary>
    /// <param name="text">The text with pseudonyms such as &lt;PERSON_1&gt;.</param>
    /// <param name="policy">The caller's policy; it must allow de-anonymization.</param>
    /// <param name="context">The conversation.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The restored text and how many pseudonyms were replaced; unknown pseudonyms are left as they are.</returns>
    /// <exception cref="DeanonymizationDeniedException">The policy does not allow de-anonymization.</exception>
    /// <remarks>The caller must audit every restoration.</remarks>
    public async ValueTask<DeanonymizationResult> DeanonymizeAsync(string text, AnonymizationPolicy policy, AnonymizationContext context, CancellationToken cancellationToken = default)
    {
        (IPseudonymVault vault, string conversationId) = ValidateDeanonymize(text, policy, context);
        return Restore(text, await vault.GetEntriesAsync(conversationId, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Decrypts a token written by the encrypt operator (&lt;ENC:...&gt;) with this anonymizer's key.</summary>
    /// <param name="token">The token, with or without the &lt;ENC: &gt; wrapper.</param>
    /// <returns>The original value.</returns>
    /// <exception cref="CryptographicException">The token was not produced with this key or was altered.</exception>
    public string DecryptToken(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        string body = token.StartsWith("<ENC:", StringComparison.Ordinal) && token.EndsWith('>') ? token[5..^1] : token;
        byte[] sealedData = Base64Url.DecodeFromChars(body);
        return Encoding.UTF8.GetString(_encryption.Open(sealedData, Encoding.UTF8.GetBytes(EncryptOperatorData)));
    }

    private static void ValidateApply(string text, IReadOnlyList<EntitySpan> entities, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(entities);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        int last = 0;
        foreach (EntitySpan e in entities)
        {
            if (e.Start < last || e.End > text.Length || e.End < e.Start)
            {
                throw new ArgumentException("Entities must be non-overlapping, ordered by start and inside the text.", nameof(entities));
            }

            last = e.End;
        }
    }

    /// <summary>Checks the inputs of a batch and finds the entities of each text.</summary>
    private IReadOnlyList<EntitySpan>[] AnalyzeAll(IReadOnlyList<AnonymizationInput> inputs, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(context);
        var entities = new IReadOnlyList<EntitySpan>[inputs.Count];
        for (int i = 0; i < entities.Length; i++)
        {
            AnonymizationInput input = inputs[i];
            if (input.Text is null || input.Policy is null)
            {
                throw new ArgumentException("Every input needs a text and a policy.", nameof(inputs));
            }

            entities[i] = input.Stored ? _storedAnalyses.GetValue(input.Text, _analyze) : _analyzer.Analyze(input.Text);
        }

        return entities;
    }

    private async ValueTask<IReadOnlyList<AnonymizerResult>> ApplyAllAsync(IReadOnlyList<AnonymizationInput> inputs, IReadOnlyList<EntitySpan>[] entities, AnonymizationContext context, CancellationToken cancellationToken)
    {
        string[]?[]? pseudonyms = await ResolvePseudonymsAsync(inputs, entities, context, cancellationToken).ConfigureAwait(false);
        return BuildAll(inputs, entities, pseudonyms);
    }

    private AnonymizerResult[] BuildAll(IReadOnlyList<AnonymizationInput> inputs, IReadOnlyList<EntitySpan>[] entities, string[]?[]? pseudonyms)
    {
        var results = new AnonymizerResult[inputs.Count];
        for (int i = 0; i < results.Length; i++)
        {
            results[i] = Build(inputs[i].Text, entities[i], inputs[i].Policy, pseudonyms?[i]);
        }

        return results;
    }

    private (IPseudonymVault Vault, string ConversationId) ValidateDeanonymize(string text, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        if (!policy.AllowDeanonymization)
        {
            throw new DeanonymizationDeniedException();
        }

        return _vault is null || context.ConversationId is null
            ? throw new InvalidOperationException("De-anonymization needs a pseudonym vault and a conversation id.")
            : (_vault, context.ConversationId);
    }

    private static DeanonymizationResult Restore(string text, IReadOnlyList<PseudonymEntry> entries)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (PseudonymEntry entry in entries)
        {
            map.TryAdd(entry.Pseudonym, entry.OriginalValue);
        }

        int restored = 0;
        string result = PseudonymPattern().Replace(text, m =>
        {
            if (map.TryGetValue(m.Value, out string? original))
            {
                restored++;
                return original;
            }

            return m.Value;
        });
        return new DeanonymizationResult(result, restored);
    }

    private static bool NeedsPseudonyms(IReadOnlyList<EntitySpan> entities, AnonymizationPolicy policy)
    {
        foreach (EntitySpan e in entities)
        {
            if (policy.OperatorFor(e.Type) is PseudonymizeOperator)
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyNeedsPseudonyms(IReadOnlyList<AnonymizationInput> inputs, IReadOnlyList<EntitySpan>[] entities)
    {
        for (int t = 0; t < entities.Length; t++)
        {
            if (NeedsPseudonyms(entities[t], inputs[t].Policy))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Finds or creates the pseudonym of every entity the policies pseudonymize, in all texts: one read of the
    /// conversation, one atomic write of its new subjects.</summary>
    /// <returns>Per text, the pseudonym per entity index (null where none applies, null for a text that needs none), or
    /// null when no text needs any.</returns>
    /// <remarks>The texts are resolved in order as if each were anonymized on its own after the previous one's write:
    /// subjects are numbered by first appearance, and subject keys link to entries of earlier texts.</remarks>
    private async ValueTask<string[]?[]?> ResolvePseudonymsAsync(IReadOnlyList<AnonymizationInput> inputs, IReadOnlyList<EntitySpan>[] entities, AnonymizationContext context, CancellationToken cancellationToken)
    {
        if (!AnyNeedsPseudonyms(inputs, entities))
        {
            return null;
        }

        if (_vault is null || context.ConversationId is null)
        {
            throw new InvalidOperationException("The pseudonymize operator needs a pseudonym vault and a conversation id.");
        }

        // Subject keys link name variants to earlier entries, including the ones this call adds before them.
        IReadOnlyList<PseudonymEntry> stored = await _vault.GetEntriesAsync(context.ConversationId, cancellationToken).ConfigureAwait(false);
        var known = new List<KnownSubject>(stored.Count + 8);
        var pseudonyms = new Dictionary<(string Type, string Key), string>(stored.Count);
        foreach (PseudonymEntry entry in stored)
        {
            known.Add(KnownSubject.Create(entry.EntityType, entry.SubjectKey, entry.OriginalValue));
            pseudonyms.TryAdd((entry.EntityType, entry.SubjectKey), entry.Pseudonym);
        }

        var keys = new (string Type, string Key)?[]?[entities.Length];
        var pending = new List<PseudonymSubject>();
        var pendingKeys = new HashSet<(string Type, string Key)>();
        for (int t = 0; t < entities.Length; t++)
        {
            string text = inputs[t].Text;
            AnonymizationPolicy policy = inputs[t].Policy;
            IReadOnlyList<EntitySpan> spans = entities[t];
            for (int i = 0; i < spans.Count; i++)
            {
                EntitySpan e = spans[i];
                if (policy.OperatorFor(e.Type) is not PseudonymizeOperator)
                {
                    continue;
                }

                string value = text[e.Start..e.End];
                var key = (e.Type, SubjectKey(e, value, known));
                (keys[t] ??= new (string Type, string Key)?[spans.Count])[i] = key;
                if (!pseudonyms.ContainsKey(key) && pendingKeys.Add(key))
                {
                    pending.Add(new PseudonymSubject(e.Type, key.Item2, value));
                    known.Add(KnownSubject.Create(e.Type, key.Item2, value));
                }
            }
        }

        if (pending.Count > 0)
        {
            IReadOnlyList<PseudonymEntry> added = await _vault.GetOrAddAsync(context.ConversationId, pending, cancellationToken).ConfigureAwait(false);
            if (added.Count != pending.Count)
            {
                throw new InvalidOperationException("The pseudonym vault returned a different number of entries than subjects it was given.");
            }

            for (int k = 0; k < added.Count; k++)
            {
                if (added[k].EntityType != pending[k].EntityType || added[k].SubjectKey != pending[k].SubjectKey)
                {
                    throw new InvalidOperationException("The pseudonym vault returned an entry for another subject.");
                }

                pseudonyms[(pending[k].EntityType, pending[k].SubjectKey)] = added[k].Pseudonym;
            }
        }

        var result = new string[]?[entities.Length];
        for (int t = 0; t < result.Length; t++)
        {
            if (keys[t] is not { } textKeys)
            {
                continue;
            }

            var textPseudonyms = new string[textKeys.Length];
            for (int i = 0; i < textKeys.Length; i++)
            {
                if (textKeys[i] is { } key)
                {
                    textPseudonyms[i] = pseudonyms[key];
                }
            }

            result[t] = textPseudonyms;
        }

        return result;
    }

    private AnonymizerResult Build(string text, IReadOnlyList<EntitySpan> entities, AnonymizationPolicy policy, string[]? pseudonyms)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (entities.Count == 0)
        {
            return new AnonymizerResult(text, entities, counts);
        }

        var sb = new StringBuilder(text.Length + 16);
        int last = 0;
        for (int i = 0; i < entities.Count; i++)
        {
            EntitySpan e = entities[i];
            AnonymizationOperator op = policy.OperatorFor(e.Type);
            sb.Append(text, last, e.Start - last);
            string value = text[e.Start..e.End];
            if (op is KeepOperator)
            {
                sb.Append(value);
            }
            else
            {
                sb.Append(op is PseudonymizeOperator ? pseudonyms![i] : Transform(e, value, op));
                counts[e.Type] = counts.GetValueOrDefault(e.Type) + 1;
            }

            last = e.End;
        }

        sb.Append(text, last, text.Length - last);
        return new AnonymizerResult(sb.ToString(), entities, counts);
    }

    [GeneratedRegex(@"<[A-Z][A-Z_]*_\d+>", RegexOptions.CultureInvariant)]
    private static partial Regex PseudonymPattern();

    private string Transform(in EntitySpan e, string value, AnonymizationOperator op) => op switch
    {
        ReplaceOperator r => r.NewValue ?? $"<{e.Type}>",
        RedactOperator => string.Empty,
        MaskOperator m => Mask(value, m),
        HashOperator => Convert.ToHexStringLower(HMACSHA256.HashData(_keys.HashKey, Encoding.UTF8.GetBytes(e.Type + ":" + value))),
        EncryptOperator => "<ENC:" + Base64Url.EncodeToString(_encryption.Seal(Encoding.UTF8.GetBytes(value), Encoding.UTF8.GetBytes(EncryptOperatorData))) + ">",
        GeneralizeOperator g => Generalize(e.Type, value, g.AgeBand),
        _ => throw new NotSupportedException($"The operator '{op.Name}' is not supported."),
    };

    private static string Mask(string value, MaskOperator m)
    {
        int count = Math.Clamp(m.CharsToMask, 0, value.Length);
        char[] chars = value.ToCharArray();
        int from = m.FromEnd ? value.Length - count : 0;
        chars.AsSpan(from, count).Fill(m.MaskingChar);
        return new string(chars);
    }

    private static string Generalize(string type, string value, int band)
    {
        if (type == EntityTypes.DateTime)
        {
            Match year = YearPattern().Match(value);
            return year.Success ? year.Value : $"<{type}>";
        }

        if (type == EntityTypes.Age)
        {
            Match age = NumberPattern().Match(value);
            if (age.Success && int.TryParse(age.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int years) && band > 0)
            {
                int low = years / band * band;
                return string.Concat(value.AsSpan(0, age.Index), $"{low}-{low + band - 1}", value.AsSpan(age.Index + age.Length));
            }
        }

        return $"<{type}>";
    }

    [GeneratedRegex(@"\b(1[89]|20)\d{2}\b", RegexOptions.CultureInvariant)]
    private static partial Regex YearPattern();

    [GeneratedRegex(@"\d{1,3}", RegexOptions.CultureInvariant)]
    private static partial Regex NumberPattern();

    /// <summary>Computes the key that identifies the subject: the subject id, an earlier variant of the same person's name, or the normalized value.</summary>
    private static string SubjectKey(in EntitySpan e, string value, List<KnownSubject> known)
    {
        if (e.SubjectId is not null)
        {
            return "id:" + e.SubjectId;
        }

        if (e.Type == EntityTypes.Person)
        {
            (string? first, string? last) = PersonName.Parse(value);
            if (last is not null)
            {
                // Link "Ms. Doe", "J. Doe", "Doe, Jane" to an earlier "Jane Doe" (or to a subject id whose name matches).
                foreach (KnownSubject k in known)
                {
                    if (k.EntityType != EntityTypes.Person)
                    {
                        continue;
                    }

                    if (k.Last is not null && string.Equals(k.Last, last, StringComparison.OrdinalIgnoreCase) && PersonName.FirstNamesCompatible(first, k.First))
                    {
                        return k.SubjectKey;
                    }
                }

                return "name:" + (first is null ? string.Empty : first.ToLowerInvariant() + " ") + last.ToLowerInvariant();
            }
        }

        return "value:" + string.Join(' ', value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();
    }

    /// <summary>A subject of the conversation (stored, or added earlier in the same call), with a person's name parsed once.</summary>
    private readonly record struct KnownSubject(string EntityType, string SubjectKey, string? First, string? Last)
    {
        public static KnownSubject Create(string entityType, string subjectKey, string originalValue)
        {
            (string? first, string? last) = entityType == EntityTypes.Person ? PersonName.Parse(originalValue) : (null, null);
            return new KnownSubject(entityType, subjectKey, first, last);
        }
    }
}

/// <summary>One text to anonymize and the policy that applies to it, for <see cref="Anonymizer.AnonymizeManyAsync(IReadOnlyList{AnonymizationInput}, AnonymizationContext, CancellationToken)"/>.</summary>
/// <param name="Text">The text.</param>
/// <param name="Policy">Which operator applies to which entity type in this text.</param>
/// <param name="Stored">Whether the text is a long-lived string (a stored chunk's text, the same object on every
/// retrieval while the store caches the chunk): its analysis is then kept with the string and reused.</param>
public readonly record struct AnonymizationInput(string Text, AnonymizationPolicy Policy, bool Stored = false);

/// <summary>Splits a person's name into first and last name, dropping titles and reading "Doe, Jane".</summary>
internal static class PersonName
{
    public static (string? First, string? Last) Parse(string value)
    {
        bool comma = value.Contains(',', StringComparison.Ordinal);
        string[] tokens = [.. DictionaryRecognizer.Tokenize(value).Where(t => !NameRecognizer.IsTitle(t))];
        if (tokens.Length == 0)
        {
            return (null, null);
        }

        if (tokens.Length == 1)
        {
            return (null, tokens[0]);
        }

        return comma ? (tokens[1], tokens[0]) : (tokens[0], tokens[^1]);
    }

    public static bool FirstNamesCompatible(string? a, string? b)
    {
        if (a is null || b is null)
        {
            return true;
        }

        if (a.Length == 1 || b.Length == 1)
        {
            return char.ToUpperInvariant(a[0]) == char.ToUpperInvariant(b[0]);
        }

        return string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    }
}
