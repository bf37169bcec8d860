using System.Collections.Frozen;

namespace CopilotGuard.Anonymization;

/// <summary>Maps entity types to operators for one caller, purpose and destination; immutable.</summary>
/// <remarks>The broker picks the policy; an external model destination usually gets a stricter one than an internal model.</remarks>
public sealed record AnonymizationPolicy
{
    /// <summary>Gets the operator for types not listed in <see cref="Operators"/>. The default is replace with the typed placeholder.</summary>
    public AnonymizationOperator DefaultOperator { get; init; } = AnonymizationOperator.Replace();

    /// <summary>Gets the operator per entity type.</summary>
    public IReadOnlyDictionary<string, AnonymizationOperator> Operators { get; init; } = FrozenDictionary<string, AnonymizationOperator>.Empty;

    /// <summary>Gets whether the caller may restore real values from pseudonyms. The default is <see langword="false"/>.</summary>
    public bool AllowDeanonymization { get; init; }

    /// <summary>Gets the policy that replaces every entity with its typed placeholder.</summary>
    public static AnonymizationPolicy Default { get; } = new();

    /// <summary>Returns the operator that applies to <paramref name="entityType"/>.</summary>
    /// <param name="entityType">The entity type.</param>
    /// <returns>The operator.</returns>
    public AnonymizationOperator OperatorFor(string entityType) =>
        Operators.TryGetValue(entityType, out AnonymizationOperator? op) ? op : DefaultOperator;
}

/// <summary>Carries the per-request facts the operators need.</summary>
/// <param name="ConversationId">The conversation whose pseudonyms are shared; required by the pseudonymize operator.</param>
public sealed record AnonymizationContext(string? ConversationId = null);

/// <summary>Holds the outcome of <see cref="Anonymizer.Anonymize"/>.</summary>
/// <param name="Text">The anonymized text.</param>
/// <param name="Entities">The entities found, with offsets and scores in the original text, ordered by start.</param>
/// <param name="CountsByType">How many entities of each type were transformed (kept entities are not counted).</param>
public sealed record AnonymizerResult(string Text, IReadOnlyList<EntitySpan> Entities, IReadOnlyDictionary<string, int> CountsByType);

/// <summary>Holds the outcome of <see cref="Anonymizer.Deanonymize"/>.</summary>
/// <param name="Text">The text with pseudonyms replaced by the real values.</param>
/// <param name="Restored">How many pseudonyms were restored.</param>
public sealed record DeanonymizationResult(string Text, int Restored);

/// <summary>Thrown when a policy does not allow the caller to restore real values from pseudonyms.</summary>
public sealed class DeanonymizationDeniedException : Exception
{
    /// <summary>Initializes a new instance with the default message.</summary>
    public DeanonymizationDeniedException()
        : base("The anonymization policy does not allow this caller to de-anonymize.")
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public DeanonymizationDeniedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DeanonymizationDeniedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
