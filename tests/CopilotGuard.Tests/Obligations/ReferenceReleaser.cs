using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text.Json;
using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Labels;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Tests.Obligations;

/// <summary>The release algorithm as it was before batching, kept as the test oracle: one chunk at a time, and within
/// a chunk the text and then every non-empty string field anonymized by a call of its own.</summary>
/// <remarks>Deliberately a copy, not shared code: a bug in <see cref="ChunkReleaser"/> must not hide in both sides.</remarks>
internal sealed class ReferenceReleaser(Anonymizer? anonymizer, byte[] hashKey)
{
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

    public async ValueTask<ReleasedChunk> ReleaseAsync(PolicyBundle bundle, CallerPrincipals caller, AttributeSet request, FilterNode residual, string conversationId, Chunk chunk, bool synchronous)
    {
        var principals = caller.Actor is null ? [caller.Subject] : new[] { caller.Subject, caller.Actor };
        var obligations = bundle.Obligations
            .Select(o => (Rule: o, Residuals: principals.Select(p => PolicyBundle.Residual(o.Condition, p, request)).ToArray()))
            .Where(static o => o.Residuals.Any(static r => r is not ConstantFilter { Value: false }))
            .ToArray();
        var context = new AnonymizationContext(conversationId);

        var attributes = chunk.ResourceAttributes;
        var applying = obligations.Where(o => o.Residuals.Any(r => FilterEvaluator.Matches(r, attributes))).Select(static o => o.Rule).ToList();
        var withheld = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var text = chunk.Text;
        ImmutableDictionary<string, JsonElement>? fields = chunk.Fields;
        if (chunk.Fields is not null)
        {
            (fields, text) = ReleaseFields(bundle.Labels, residual, chunk, applying, withheld);
        }

        var entities = ImmutableDictionary<string, int>.Empty;
        if (anonymizer is not null)
        {
            var policy = EntityPolicy(applying);
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            var result = synchronous ? anonymizer.Anonymize(text, policy, context) : await anonymizer.AnonymizeAsync(text, policy, context);
            text = result.Text;
            Add(counts, result.CountsByType);
            if (fields is not null)
            {
                var anonymized = fields.ToBuilder();
                foreach (var (name, value) in fields)
                {
                    if (value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s)
                    {
                        var fieldResult = synchronous ? anonymizer.Anonymize(s, policy, context) : await anonymizer.AnonymizeAsync(s, policy, context);
                        if (!ReferenceEquals(fieldResult.Text, s) && fieldResult.Text != s)
                        {
                            anonymized[name] = JsonSerializer.SerializeToElement(fieldResult.Text);
                            Add(counts, fieldResult.CountsByType);
                            withheld.TryAdd(name, "anonymized");
                        }
                    }
                }

                fields = anonymized.ToImmutable();
            }

            entities = counts.ToImmutableDictionary(StringComparer.Ordinal);
        }

        return new ReleasedChunk(chunk with { Text = text, Fields = fields }, withheld.ToImmutable(), entities);
    }

    private (ImmutableDictionary<string, JsonElement> Fields, string Text) ReleaseFields(LabelTaxonomy labels, FilterNode residual, Chunk chunk, List<ObligationRule> applying, ImmutableDictionary<string, string>.Builder withheld)
    {
        var cleared = new Dictionary<int, bool>();
        var released = ImmutableDictionary.CreateBuilder<string, JsonElement>(StringComparer.Ordinal);
        var rendered = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, value) in chunk.Fields!)
        {
            var label = chunk.Schema?.Fields.TryGetValue(name, out var field) == true && labels.TryGet(field.Label, out var fieldLabel) ? fieldLabel : chunk.Label;
            FieldObligation obligation = FieldObligation.Keep;
            if (!IsCleared(residual, chunk, label, cleared))
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

            var result = obligation.Apply(value, hashKey);
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
                rendered[name] = JsonSerializer.SerializeToElement(ChunkReleaser.WithheldMarker);
            }
        }

        var text = chunk.Schema is { } schema
            ? CorpusReader.Render(schema.TextTemplate, rendered)
            : withheld.Count == 0 ? chunk.Text : string.Join("; ", rendered.Select(static pair => $"{pair.Key}: {CorpusReader.FormatValue(pair.Value)}"));
        return (released.ToImmutable(), text);
    }

    private static bool IsCleared(FilterNode residual, Chunk chunk, SensitivityLabel label, Dictionary<int, bool> cache)
    {
        if (label.Rank == chunk.Label.Rank)
        {
            return true;
        }

        if (!cache.TryGetValue(label.Rank, out var allowed))
        {
            allowed = FilterEvaluator.Matches(residual, chunk.ResourceAttributes.With(ResourceAttributeNames.Label, [label.ToAttributeValue()]));
            cache[label.Rank] = allowed;
        }

        return allowed;
    }

    private static AnonymizationPolicy EntityPolicy(List<ObligationRule> applying)
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
