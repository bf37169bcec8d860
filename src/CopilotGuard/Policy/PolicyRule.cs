namespace CopilotGuard.Policy;

/// <summary>Whether a rule grants or forbids access.</summary>
public enum PolicyEffect
{
    /// <summary>Grants access where the condition holds (unless a deny rule also holds).</summary>
    Allow,

    /// <summary>Forbids access where the condition holds; deny overrides allow.</summary>
    Deny,
}

/// <summary>One rule of a policy bundle.</summary>
/// <param name="Id">The rule id, unique in the bundle; recorded in explanations.</param>
/// <param name="Effect">Allow or deny.</param>
/// <param name="Condition">The parsed condition.</param>
/// <param name="ConditionText">The condition as written.</param>
/// <param name="Description">What the rule is for.</param>
/// <param name="File">The file the rule was loaded from.</param>
/// <param name="Line">The 1-based line of the rule in that file.</param>
public sealed record PolicyRule(
    string Id,
    PolicyEffect Effect,
    Expression Condition,
    string ConditionText,
    string? Description,
    string File,
    int Line);
