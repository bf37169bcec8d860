using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text.Json;
using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Obligations;

/// <summary>A chunk as released to the caller, with what was withheld and anonymized.</summary>
/// <param name="Chunk">The released chunk: fields transformed, text re-rendered and anonymized.</param>
/// <param name="FieldsWithheld">Field name to the operator applied, for every field not returned as stored.</param>
/// <param name="Entities">Entity type to how many were anonymized.</param>
public sealed record ReleasedChunk(Chunk Chunk, ImmutableDictionary<string, string> FieldsWithheld, ImmutableDictionary<string, int> Entities);

/// <summary>Applies field obligations and anonymization to chunks before they leave: the last stage before the audit record.</summary>
/// <remarks>
/// A field is returned in clear only when the caller would be allowed the chunk if it carried the field's own label
/// (so field labels obey the same rules, ceilings and destinations as chunks); otherwise it is dropped. Fields that
/// pass get the strictest obligation that applies. The row's text is re-rendered from its template with the
/// transformed values, so a withheld value cannot survive in the text, and then anonymized like any other text.
/// </remarks>
public sealed class ChunkReleaser
{
    /// <summary>The text that stands in for a withheld field in re-rendered text.</summary>
    public const string WithheldMarker = "[withheld]";

    private static readonly FrozenDictionary<string, int> EntityStrictness = new Dictionary<string, int>
    {
        ["keep"] = 0,
        ["generalize"] = 1,
        ["mask"] = 2,
        ["pseudonymize"] = 3,
        ["encrypt"] = 4,
        ["hash"] = 5,
        ["replace"] = 6,
        ["redact"] = 7,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    // Elements of a serialized document are immutable and safe to share between threads.
    private static readonly JsonElement WithheldElement = JsonSerializer.SerializeToElement(WithheldMarker);

    /// <summary>The most distinct sets of applying obligations whose entity policy is kept (a bundle has a handful).</summary>
    private const int MaxCachedEntityPolicies = 1024;

    private readonly Anonymizer? _anonymizer;
    private readonly byte[] _hashKey;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<RuleSet, AnonymizationPolicy> _entityPolicies = new();

    /// <summary>Creates a releaser.</summary>
    /// <param name="anonymizer">The anonymizer; <see langword="null"/> releases text without entity anonymization (tests only).</param>
    /// <param name="hashKey">The tenant key for hashed fields (at least 32 bytes).</param>
    public ChunkReleaser(Anonymizer? anonymizer, byte[] hashKey)
    {
        ArgumentNullException.ThrowIfNull(hashKey);
        if (hashKey.Length < 32)
        {
            throw new ArgumentException("The field hashing key must be at least 32 bytes.", nameof(hashKey));
        }

        _anonymizer = anonymizer;
        _hashKey = [.. hashKey];
    }

    /// <summary>The entity policy of a set of applying obligations, built once per distinct set (of the same rule objects)
    /// rather than per request: building its frozen operator table costs more than the rest of a chunk's policy work.</summary>
    private AnonymizationPolicy EntityPolicyFor(List<ObligationRule> applying, Destination? destination)
    {
        var required = destination?.Anonymization is { Count: > 0 } operators ? operators : null;
        if (_entityPolicies.TryGetValue(new RuleSet(applying, required), out var cached))
        {
            return cached;
        }

        var policy = ReleasePlan.BuildEntityPolicy(applying);
        if (required is not null)
        {
            policy = ReleasePlan.Require(policy, required);
        }

        if (_entityPolicies.Count < MaxCachedEntityPolicies)
        {
            // The key keeps its own copy: the caller's list is per chunk.
            _entityPolicies.TryAdd(new RuleSet([.. applying], required), policy);
        }

        return policy;
    }

    /// <summary>A set of obligation rules compared by identity, in order, with the destination's required operators
    /// (compared by identity: one table per registered destination).</summary>
    private readonly struct RuleSet(IReadOnlyList<ObligationRule> rules, object? required) : IEquatable<RuleSet>
    {
        private readonly IReadOnlyList<ObligationRule> _rules = rules;
        private readonly object? _required = required;

        public bool Equals(RuleSet other)
        {
            if (_rules.Count != other._rules.Count || !ReferenceEquals(_required, other._required))
            {
                return false;
            }

            for (var i = 0; i < _rules.Count; i++)
            {
                if (!ReferenceEquals(_rules[i], other._rules[i]))
                {
                    return false;
                }
            }

            return true;
        }

        public override bool Equals(object? obj) => obj is RuleSet other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            hash.Add(_required is null ? 0 : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(_required));
            for (var i = 0; i < _rules.Count; i++)
            {
                hash.Add(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(_rules[i]));
            }

            return hash.ToHashCode();
        }
    }

    /// <summary>Gets the anonymizer, if any.</summary>
    public Anonymizer? Anonymizer => _anonymizer;

    /// <summary>Prepares the per-request state: each obligation reduced to a residual for each principal.</summary>
    /// <param name="bundle">The policy bundle whose obligations apply.</param>
    /// <param name="caller">The caller.</param>
    /// <param name="request">The request attributes.</param>
    /// <param name="residual">The residual the chunks passed (with the destination's ceiling), which field labels must pass too.</param>
    /// <param name="conversationId">The conversation pseudonyms are scoped to.</param>
    /// <param name="destination">The resolved destination, whose required anonymization operators apply at least as strictly as listed.</param>
    public ReleasePlan Plan(PolicyBundle bundle, CallerPrincipals caller, AttributeSet request, FilterNode residual, string conversationId, Destination? destination = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(caller);
        var principals = caller.Actor is null ? [caller.Subject] : new[] { caller.Subject, caller.Actor };
        var obligations = bundle.Obligations
            .Select(o => (Rule: o, Residuals: principals.Select(p => PolicyBundle.Residual(o.Condition, p, request)).ToArray()))
            .Where(static o => o.Residuals.Any(static r => r is not ConstantFilter { Value: false }))
            .ToArray();
        return new ReleasePlan(this, bundle.Labels, obligations, residual, new AnonymizationContext(conversationId), destination);
    }

    /// <summary>The release state of one request.</summary>
    public sealed class ReleasePlan
    {
        private readonly ChunkReleaser _owner;
        private readonly LabelTaxonomy _labels;
        private readonly (ObligationRule Rule, FilterNode[] Residuals)[] _obligations;
        private readonly FilterNode _residual;
        private readonly AnonymizationContext _context;
        private readonly Destination? _destination;

        // Entity policies by the set of applying obligations (one bit per obligation), shared by chunks with the same set.

        internal ReleasePlan(ChunkReleaser owner, LabelTaxonomy labels, (ObligationRule, FilterNode[])[] obligations, FilterNode residual, AnonymizationContext context, Destination? destination)
        {
            _destination = destination;
            _owner = owner;
            _labels = labels;
            _obligations = obligations;
            _residual = residual;
            _context = context;
        }

        /// <summary>Releases one chunk that passed the policy.</summary>
        /// <remarks>Pseudonymization here needs a vault that works in memory; <see cref="ReleaseAsync"/> works with any vault.</remarks>
        public ReleasedChunk Release(Chunk chunk)
        {
            ArgumentNullException.ThrowIfNull(chunk);
            return ReleaseAll([chunk])[0];
        }

        /// <summary>Releases chunks that passed the policy, as <see cref="Release"/> would one after the other.</summary>
        /// <remarks>Pseudonymization here needs a vault that works in memory; <see cref="ReleaseAllAsync"/> works with any vault.</remarks>
        public IReadOnlyList<ReleasedChunk> ReleaseAll(IReadOnlyList<Chunk> chunks)
        {
            // With the synchronous anonymizer nothing below waits, so the task has completed when it returns.
            ValueTask<IReadOnlyList<ReleasedChunk>> released = ReleaseCoreAsync(chunks, synchronous: true, CancellationToken.None);
            return released.IsCompleted ? released.Result : throw new InvalidOperationException("The release did not complete synchronously.");
        }

        /// <summary>Releases one chunk that passed the policy, persisting new pseudonyms before it returns.</summary>
        /// <remarks>Fails (and releases nothing) when the pseudonym vault cannot read or persist the mapping.</remarks>
        public async ValueTask<ReleasedChunk> ReleaseAsync(Chunk chunk, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(chunk);
            return (await ReleaseCoreAsync([chunk], synchronous: false, cancellationToken).ConfigureAwait(false))[0];
        }

        /// <summary>Releases chunks that passed the policy, with one read of the pseudonym vault and at most one write for all of them.</summary>
        /// <param name="chunks">The chunks, in release order (pseudonyms are numbered by first appearance in this order).</param>
        /// <param name="cancellationToken">The cancellation token.</param>
        /// <returns>One released chunk per chunk, in the same order; the same as releasing them one after the other with <see cref="ReleaseAsync"/>.</returns>
        /// <remarks>New pseudonyms are persisted before it returns; fails (and releases nothing) when the pseudonym vault cannot read or persist the mapping.</remarks>
        public ValueTask<IReadOnlyList<ReleasedChunk>> ReleaseAllAsync(IReadOnlyList<Chunk> chunks, CancellationToken cancellationToken) =>
            ReleaseCoreAsync(chunks, synchronous: false, cancellationToken);

        private async ValueTask<IReadOnlyList<ReleasedChunk>> ReleaseCoreAsync(IReadOnlyList<Chunk> chunks, bool synchronous, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(chunks);
            var anonymizer = _owner._anonymizer;

            // First the field obligations of every chunk, collecting the texts to anonymize: each chunk's text, then
            // its non-empty string fields in order, as releasing the chunks one by one would anonymize them.
            var prepared = new PreparedChunk[chunks.Count];
            var inputs = new List<AnonymizationInput>(anonymizer is null ? 0 : chunks.Count);
            for (var c = 0; c < prepared.Length; c++)
            {
                var chunk = chunks[c] ?? throw new ArgumentException("The chunks must not be null.", nameof(chunks));
                var applying = Applying(chunk.ResourceAttributes);
                var withheld = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
                var text = chunk.Text;
                var fields = chunk.Fields;
                if (chunk.Fields is not null)
                {
                    (fields, text) = ReleaseFields(chunk, applying, withheld);
                }

                prepared[c] = new PreparedChunk(chunk, text, fields, withheld, inputs.Count);
                if (anonymizer is not null)
                {
                    var policy = _owner.EntityPolicyFor(applying, _destination);
                    inputs.Add(new AnonymizationInput(text, policy, Stored: ReferenceEquals(text, chunk.Text)));
                    if (fields is not null)
                    {
                        foreach (var (_, value) in fields)
                        {
                            if (AnonymizableText(value) is { } s)
                            {
                                inputs.Add(new AnonymizationInput(s, policy));
                            }
                        }
                    }
                }
            }

            IReadOnlyList<AnonymizerResult> results = [];
            if (anonymizer is not null)
            {
                // One batch for all chunks: one read of the pseudonym vault, at most one write.
                results = synchronous ? anonymizer.AnonymizeMany(inputs, _context) : await anonymizer.AnonymizeManyAsync(inputs, _context, cancellationToken).ConfigureAwait(false);
            }

            var released = new ReleasedChunk[prepared.Length];
            var changed = new List<(string Name, string Text)>();
            for (var c = 0; c < prepared.Length; c++)
            {
                var (chunk, text, fields, withheld, next) = prepared[c];
                var entities = ImmutableDictionary<string, int>.Empty;
                if (anonymizer is not null)
                {
                    var counts = new Dictionary<string, int>(StringComparer.Ordinal);
                    var result = results[next++];
                    text = result.Text;
                    Add(counts, result.CountsByType);
                    if (fields is not null)
                    {
                        changed.Clear();
                        foreach (var (name, value) in fields)
                        {
                            if (AnonymizableText(value) is { } s)
                            {
                                var fieldResult = results[next++];
                                if (!ReferenceEquals(fieldResult.Text, s) && fieldResult.Text != s)
                                {
                                    changed.Add((name, fieldResult.Text));
                                    Add(counts, fieldResult.CountsByType);
                                    withheld.TryAdd(name, "anonymized");
                                }
                            }
                        }

                        if (changed.Count > 0)
                        {
                            fields = WithStrings(fields, changed);
                        }
                    }

                    entities = counts.ToImmutableDictionary(StringComparer.Ordinal);
                }

                released[c] = new ReleasedChunk(chunk with { Text = text, Fields = fields }, withheld.ToImmutable(), entities);
            }

            return released;
        }

        /// <summary>The obligations whose condition holds for the chunk, in bundle order.</summary>
        private List<ObligationRule> Applying(AttributeSet attributes)
        {
            var applying = new List<ObligationRule>();
            for (var i = 0; i < _obligations.Length; i++)
            {
                foreach (var residual in _obligations[i].Residuals)
                {
                    if (FilterEvaluator.Matches(residual, attributes))
                    {
                        applying.Add(_obligations[i].Rule);
                        break;
                    }
                }
            }

            return applying;
        }

        /// <summary>The value of a field that is anonymized like text: a non-empty string.</summary>
        private static string? AnonymizableText(JsonElement value) =>
            value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s ? s : null;

        /// <summary>Replaces string values of fields; the new values share one JSON document rather than one each.</summary>
        private static ImmutableDictionary<string, JsonElement> WithStrings(ImmutableDictionary<string, JsonElement> fields, List<(string Name, string Text)> changed)
        {
            var texts = new string[changed.Count];
            for (var i = 0; i < texts.Length; i++)
            {
                texts[i] = changed[i].Text;
            }

            var values = JsonSerializer.SerializeToElement(texts);
            var builder = fields.ToBuilder();
            for (var i = 0; i < texts.Length; i++)
            {
                builder[changed[i].Name] = values[i];
            }

            return builder.ToImmutable();
        }

        /// <summary>A chunk after its field obligations, before anonymization.</summary>
        /// <param name="Chunk">The chunk as stored.</param>
        /// <param name="Text">Its text, re-rendered from the released fields.</param>
        /// <param name="Fields">Its released fields.</param>
        /// <param name="Withheld">The fields not returned as stored, so far.</param>
        /// <param name="FirstInput">The index of its text among the anonymizer inputs; its non-empty string fields follow.</param>
        private readonly record struct PreparedChunk(Chunk Chunk, string Text, ImmutableDictionary<string, JsonElement>? Fields, ImmutableDictionary<string, string>.Builder Withheld, int FirstInput);

        private (ImmutableDictionary<string, JsonElement> Fields, string Text) ReleaseFields(Chunk chunk, List<ObligationRule> applying, ImmutableDictionary<string, string>.Builder withheld)
        {
            var cleared = new Dictionary<int, bool>();
            var released = ImmutableDictionary.CreateBuilder<string, JsonElement>(StringComparer.Ordinal);
            var rendered = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var (name, value) in chunk.Fields!)
            {
                var label = chunk.Schema?.Fields.TryGetValue(name, out var field) == true && _labels.TryGet(field.Label, out var fieldLabel) ? fieldLabel : chunk.Label;
                FieldObligation obligation = FieldObligation.Keep;
                if (!IsCleared(chunk, label, cleared))
                {
                    obligation = FieldObligation.Drop;
                }
                else
                {
                    foreach (var rule in applying)
                    {
                        if (rule.Fields.TryGetValue(name, out var candidate))
                        {
                            obligation = FieldObligation.Stricter(obligation, candidate);
                        }
                    }
                }

                var result = obligation.Apply(value, _owner._hashKey);
                if (obligation is not KeepField)
                {
                    withheld[name] = result is null ? "drop" : obligation.Name;
                }

                if (result is { } kept)
                {
                    released[name] = kept;
                    rendered[name] = kept;
                }
                else
                {
                    rendered[name] = WithheldElement;
                }
            }

            // Prose without a template keeps its text only when no field was withheld; otherwise it is rebuilt from the fields.
            var text = chunk.Schema is { } schema
                ? CorpusReader.Render(schema.TextTemplate, rendered)
                : withheld.Count == 0 ? chunk.Text : string.Join("; ", rendered.Select(static pair => $"{pair.Key}: {CorpusReader.FormatValue(pair.Value)}"));
            return (released.ToImmutable(), text);
        }

        private bool IsCleared(Chunk chunk, SensitivityLabel label, Dictionary<int, bool> cache)
        {
            // Labels compare by rank: at the chunk's own rank the answer is the chunk's, which passed.
            if (label.Rank == chunk.Label.Rank)
            {
                return true;
            }

            if (!cache.TryGetValue(label.Rank, out var allowed))
            {
                allowed = FilterEvaluator.Matches(_residual, chunk.ResourceAttributes.With(ResourceAttributeNames.Label, [label.ToAttributeValue()]));
                cache[label.Rank] = allowed;
            }

            return allowed;
        }

        /// <summary>For each entity type the strictest operator that any applying obligation gives it (its own entry,
        /// else its default); a type no obligation covers is replaced with its typed placeholder (fail closed).</summary>
        internal static AnonymizationPolicy BuildEntityPolicy(List<ObligationRule> applying)
        {
            AnonymizationOperator? fallback = null;
            var named = new HashSet<string>(StringComparer.Ordinal);
            foreach (var rule in applying)
            {
                if (rule.Entities.TryGetValue(ObligationRule.DefaultEntity, out var ruleDefault))
                {
                    fallback = fallback is null ? ruleDefault : Stricter(fallback, ruleDefault);
                }

                named.UnionWith(rule.Entities.Keys.Where(static key => key != ObligationRule.DefaultEntity));
            }

            var operators = new Dictionary<string, AnonymizationOperator>(StringComparer.Ordinal);
            foreach (var type in named)
            {
                AnonymizationOperator? effective = null;
                foreach (var rule in applying)
                {
                    var op = rule.Entities.GetValueOrDefault(type) ?? rule.Entities.GetValueOrDefault(ObligationRule.DefaultEntity);
                    if (op is not null)
                    {
                        effective = effective is null ? op : Stricter(effective, op);
                    }
                }

                operators[type] = effective!;
            }

            return new AnonymizationPolicy
            {
                DefaultOperator = fallback ?? AnonymizationOperator.Replace(),
                Operators = operators.ToFrozenDictionary(StringComparer.Ordinal),
            };
        }

        /// <summary>Raises an entity policy to a destination's requirements: each named type gets at least the required
        /// operator (its own entry, else the required default), and the default at least the required default.</summary>
        internal static AnonymizationPolicy Require(AnonymizationPolicy policy, IReadOnlyDictionary<string, AnonymizationOperator> required)
        {
            required.TryGetValue(Destination.DefaultEntity, out var requiredDefault);
            var operators = new Dictionary<string, AnonymizationOperator>(StringComparer.Ordinal);
            foreach (var (type, op) in policy.Operators)
            {
                var floor = required.GetValueOrDefault(type) ?? requiredDefault;
                operators[type] = floor is null ? op : Stricter(op, floor);
            }

            foreach (var (type, op) in required)
            {
                if (type != Destination.DefaultEntity && !operators.ContainsKey(type))
                {
                    operators[type] = Stricter(policy.OperatorFor(type), op);
                }
            }

            return policy with
            {
                DefaultOperator = requiredDefault is null ? policy.DefaultOperator : Stricter(policy.DefaultOperator, requiredDefault),
                Operators = operators.ToFrozenDictionary(StringComparer.Ordinal),
            };
        }

        private static AnonymizationOperator Stricter(AnonymizationOperator a, AnonymizationOperator b) => Strictness(b) > Strictness(a) ? b : a;

        private static int Strictness(AnonymizationOperator op) => EntityStrictness.GetValueOrDefault(op.Name, int.MaxValue);

        private static void Add(Dictionary<string, int> counts, IReadOnlyDictionary<string, int> more)
        {
            foreach (var (type, count) in more)
            {
                counts[type] = counts.GetValueOrDefault(type) + count;
            }
        }
    }
}
