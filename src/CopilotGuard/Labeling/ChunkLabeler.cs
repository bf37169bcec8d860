using System.Collections.Immutable;
using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Labeling;

/// <summary>Raises chunk labels at ingestion: by the data owners' label rules, and automatically when high-risk
/// entities (SSNs, card numbers, health identifiers) are found in the text. A label never goes down automatically.</summary>
/// <remarks>Each raise is recorded in the chunk's <c>labelReason</c> attribute (rule ids and entity types, never values).</remarks>
public sealed class ChunkLabeler
{
    /// <summary>The attribute that records why a label was raised.</summary>
    public const string ReasonAttribute = "labelReason";

    private readonly LabelingPolicy _policy;
    private readonly EntityAnalyzer? _analyzer;
    private readonly FilterNode[] _rules;

    /// <summary>Creates a labeler from a labeling policy and, for auto-elevation, an entity analyzer.</summary>
    public ChunkLabeler(LabelingPolicy policy, EntityAnalyzer? analyzer)
    {
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _analyzer = analyzer;
        var nobody = new Identity.Principal("(ingestion)", Identity.PrincipalKind.Service, AttributeSet.Empty);
        _rules = [.. policy.Rules.Select(rule => PolicyBundle.Residual(rule.Condition, nobody, AttributeSet.Empty))];
    }

    /// <summary>Returns the chunk with its label raised where a rule or a high-risk entity requires it.</summary>
    public Chunk Apply(Chunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var label = chunk.Label;
        var reasons = new List<string>();
        for (var i = 0; i < _rules.Length; i++)
        {
            var rule = _policy.Rules[i];
            if (rule.Label.Rank > label.Rank && FilterEvaluator.Matches(_rules[i], chunk.ResourceAttributes))
            {
                label = rule.Label;
                reasons.Add("rule:" + rule.Id);
            }
        }

        if (_analyzer is not null && _policy.ElevationLabel is { } elevation && elevation.Rank > label.Rank && !_policy.ElevationEntities.IsEmpty)
        {
            var found = _analyzer.Analyze(chunk.Text).Select(static e => e.Type).Where(_policy.ElevationEntities.Contains).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            if (found.Count > 0)
            {
                label = elevation;
                reasons.AddRange(found.Select(static type => "entity:" + type));
            }
        }

        return reasons.Count == 0
            ? chunk
            : chunk with
            {
                Label = label,
                Attributes = chunk.Attributes.With(ReasonAttribute, [.. reasons.Select(AttributeValue.FromString)]),
            };
    }
}
