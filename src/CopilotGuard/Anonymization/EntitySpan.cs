namespace CopilotGuard.Anonymization;

/// <summary>Describes one entity found in a text: its type, UTF-16 range (end exclusive) and confidence score.</summary>
/// <param name="Type">The entity type, named as Presidio names it (see <see cref="EntityTypes"/>).</param>
/// <param name="Start">The UTF-16 offset of the first character of the entity.</param>
/// <param name="End">The UTF-16 offset just past the last character of the entity (exclusive).</param>
/// <param name="Score">The confidence, from 0 to 1.</param>
/// <remarks>Carries no copy of the entity value, so spans can be logged or audited without leaking PII.</remarks>
public readonly record struct EntitySpan(string Type, int Start, int End, double Score)
{
    /// <summary>Gets the directory or record id of the data subject this entity names, when a dictionary recognizer knows it.</summary>
    public string? SubjectId { get; init; }

    /// <summary>Gets the name of the recognizer that found this entity (<see cref="IEntityRecognizer.Name"/>), set by <see cref="EntityAnalyzer"/>; for diagnostics such as <c>anonymize --explain</c>.</summary>
    public string? Recognizer { get; init; }

    /// <summary>Gets the number of UTF-16 characters covered.</summary>
    public int Length => End - Start;

    /// <summary>Returns whether this span shares at least one character with <paramref name="other"/>.</summary>
    /// <param name="other">The span to compare with.</param>
    /// <returns><see langword="true"/> when the ranges overlap.</returns>
    public bool Overlaps(in EntitySpan other) => Start < other.End && other.Start < End;
}
