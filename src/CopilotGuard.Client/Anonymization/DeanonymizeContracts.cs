namespace CopilotGuard.Client;

/// <summary>Describes a de-anonymization: the body of <c>POST /v1/deanonymize</c>.</summary>
/// <param name="ConversationId">The conversation whose pseudonyms the text uses.</param>
/// <param name="Text">The text with pseudonyms such as &lt;PERSON_1&gt;.</param>
public sealed record DeanonymizeRequest(string ConversationId, string Text);

/// <summary>Holds a de-anonymized text.</summary>
/// <param name="Text">The text with the caller's permitted pseudonyms restored; unknown pseudonyms stay as they are.</param>
/// <param name="Restored">How many pseudonyms were restored.</param>
public sealed record DeanonymizeResponse(string Text, int Restored);
