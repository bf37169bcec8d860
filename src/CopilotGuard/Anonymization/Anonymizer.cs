using System.Buffers.Text;
using System.Globalization;
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
    private readonly EntityAnalyzer _analyzer;
    private readonly AnonymizerKeys _keys;
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
        _keys = keys;
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
    public AnonymizerResult Anonymize(string text, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        IReadOnlyList<EntitySpan> entities = _analyzer.Analyze(text);
        return Apply(text, entities, policy, context);
    }

    /// <summary>Applies the policy's operators to entities that were already found (for callers that analyze once and anonymize per destination).</summary>
    /// <param name="text">The original text.</param>
    /// <param name="entities">Non-overlapping entities in <paramref name="text"/>, ordered by start.</param>
    /// <param name="policy">Which operator applies to which entity type.</param>
    /// <param name="context">The conversation and other per-request facts.</param>
    /// <returns>The anonymized text, the entities and counts per type.</returns>
    public AnonymizerResult Apply(string text, IReadOnlyList<EntitySpan> entities, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(entities);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (entities.Count == 0)
        {
            return new AnonymizerResult(text, entities, counts);
        }

        var sb = new StringBuilder(text.Length + 16);
        int last = 0;
        List<PseudonymEntry>? known = null;
        foreach (EntitySpan e in entities)
        {
            if (e.Start < last || e.End > text.Length)
            {
                throw new ArgumentException("Entities must be non-overlapping, ordered by start and inside the text.", nameof(entities));
            }

            AnonymizationOperator op = policy.OperatorFor(e.Type);
            sb.Append(text, last, e.Start - last);
            string value = text[e.Start..e.End];
            if (op is KeepOperator)
            {
                sb.Append(value);
            }
            else
            {
                sb.Append(Transform(e, value, op, context, ref known));
                counts[e.Type] = counts.GetValueOrDefault(e.Type) + 1;
            }

            last = e.End;
        }

        sb.Append(text, last, text.Length - last);
        return new AnonymizerResult(sb.ToString(), entities, counts);
    }

    /// <summary>Restores the real values behind the pseudonyms of a conversation in <paramref name="text"/> (e.g. a model's answer).</summary>
    /// <param name="text">The text with pseudonyms such as &lt;PERSON_1&gt;.</param>
    /// <param name="policy">The caller's policy; it must allow de-anonymization.</param>
    /// <param name="context">The conversation.</param>
    /// <returns>The restored text and how many pseudonyms were replaced; unknown pseudonyms are left as they are.</returns>
    /// <exception cref="DeanonymizationDeniedException">The policy does not allow de-anonymization.</exception>
    /// <remarks>The caller must audit every restoration.</remarks>
    public DeanonymizationResult Deanonymize(string text, AnonymizationPolicy policy, AnonymizationContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        if (!policy.AllowDeanonymization)
        {
            throw new DeanonymizationDeniedException();
        }

        if (_vault is null || context.ConversationId is null)
        {
            throw new InvalidOperationException("De-anonymization needs a pseudonym vault and a conversation id.");
        }

        var map = _vault.GetEntries(context.ConversationId).ToDictionary(e => e.Pseudonym, e => e.OriginalValue, StringComparer.Ordinal);
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

    /// <summary>Decrypts a token written by the encrypt operator (&lt;ENC:...&gt;) with this anonymizer's key.</summary>
    /// <param name="token">The token, with or without the &lt;ENC: &gt; wrapper.</param>
    /// <returns>The original value.</returns>
    /// <exception cref="CryptographicException">The token was not produced with this key or was altered.</exception>
    public string DecryptToken(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        string body = token.StartsWith("<ENC:", StringComparison.Ordinal) && token.EndsWith('>') ? token[5..^1] : token;
        byte[] sealedData = Base64Url.DecodeFromChars(body);
        return Encoding.UTF8.GetString(AesGcmBox.Open(_keys.EncryptionKey, sealedData, "copilotguard-encrypt-operator"u8));
    }

    [GeneratedRegex(@"<[A-Z][A-Z_]*_\d+>", RegexOptions.CultureInvariant)]
    private static partial Regex PseudonymPattern();

    private string Transform(in EntitySpan e, string value, AnonymizationOperator op, AnonymizationContext context, ref List<PseudonymEntry>? known)
    {
        switch (op)
        {
            case ReplaceOperator r:
                return r.NewValue ?? $"<{e.Type}>";
            case RedactOperator:
                return string.Empty;
            case MaskOperator m:
                return Mask(value, m);
            case HashOperator:
                return Convert.ToHexStringLower(HMACSHA256.HashData(_keys.HashKey, Encoding.UTF8.GetBytes(e.Type + ":" + value)));
            case EncryptOperator:
                return "<ENC:" + Base64Url.EncodeToString(AesGcmBox.Seal(_keys.EncryptionKey, Encoding.UTF8.GetBytes(value), "copilotguard-encrypt-operator"u8)) + ">";
            case GeneralizeOperator g:
                return Generalize(e.Type, value, g.AgeBand);
            case PseudonymizeOperator:
                return Pseudonymize(e, value, context, ref known);
            default:
                throw new NotSupportedException($"The operator '{op.Name}' is not supported.");
        }
    }

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

    private string Pseudonymize(in EntitySpan e, string value, AnonymizationContext context, ref List<PseudonymEntry>? known)
    {
        if (_vault is null || context.ConversationId is null)
        {
            throw new InvalidOperationException("The pseudonymize operator needs a pseudonym vault and a conversation id.");
        }

        known ??= [.. _vault.GetEntries(context.ConversationId)];
        string key = SubjectKey(e, value, known);
        PseudonymEntry entry = _vault.GetOrAdd(context.ConversationId, e.Type, key, value);
        if (!known.Contains(entry))
        {
            known.Add(entry);
        }

        return entry.Pseudonym;
    }

    /// <summary>Computes the key that identifies the subject: the subject id, an earlier variant of the same person's name, or the normalized value.</summary>
    internal static string SubjectKey(in EntitySpan e, string value, IReadOnlyList<PseudonymEntry> known)
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
                foreach (PseudonymEntry k in known)
                {
                    if (k.EntityType != EntityTypes.Person)
                    {
                        continue;
                    }

                    (string? kFirst, string? kLast) = PersonName.Parse(k.OriginalValue);
                    if (kLast is not null && string.Equals(kLast, last, StringComparison.OrdinalIgnoreCase) && PersonName.FirstNamesCompatible(first, kFirst))
                    {
                        return k.SubjectKey;
                    }
                }

                return "name:" + (first is null ? string.Empty : first.ToLowerInvariant() + " ") + last.ToLowerInvariant();
            }
        }

        return "value:" + string.Join(' ', value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();
    }
}

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
