namespace CopilotGuard.Anonymization;

/// <summary>Finds entities of one or more types in a text.</summary>
/// <remarks>
/// Implementations must be thread-safe and must not keep the text. A model-backed recognizer (an ONNX
/// NER model, a remote PII service) plugs in behind this interface next to the built-in ones.
/// </remarks>
public interface IEntityRecognizer
{
    /// <summary>Gets a short, stable name for this recognizer, used in diagnostics and configuration.</summary>
    string Name { get; }

    /// <summary>Gets the entity types this recognizer can report.</summary>
    IReadOnlyCollection<string> SupportedEntities { get; }

    /// <summary>Adds every entity found in <paramref name="text"/> to <paramref name="results"/>; overlaps are allowed.</summary>
    /// <param name="text">The text to scan.</param>
    /// <param name="results">The collection receiving the spans, with offsets into <paramref name="text"/>.</param>
    void Recognize(string text, ICollection<EntitySpan> results);
}
