using System.Collections.Immutable;
using CopilotGuard.Anonymization;
using CopilotGuard.Policy;

namespace CopilotGuard.Obligations;

/// <summary>A policy obligation: when its condition holds for a caller, request and chunk, its field operators and
/// entity (anonymization) operators apply to what is released.</summary>
/// <param name="Id">The obligation id, unique in the bundle.</param>
/// <param name="Condition">When the obligation applies (over principal, request and resource).</param>
/// <param name="ConditionText">The condition as written.</param>
/// <param name="Fields">Operators per field name.</param>
/// <param name="Entities">Operators per entity type (Presidio names); the key <c>default</c> covers every other type.</param>
/// <param name="Description">What the obligation is for.</param>
/// <param name="File">The file it was loaded from.</param>
/// <param name="Line">The 1-based line in that file.</param>
public sealed record ObligationRule(
    string Id,
    Expression Condition,
    string ConditionText,
    ImmutableDictionary<string, FieldObligation> Fields,
    ImmutableDictionary<string, AnonymizationOperator> Entities,
    string? Description,
    string File,
    int Line)
{
    /// <summary>The key of <see cref="Entities"/> that covers every entity type not named.</summary>
    public const string DefaultEntity = "default";
}
