using System.Text.Json;
using System.Text.Json.Serialization;

namespace CopilotGuard.Client;

/// <summary>Problem details as the server writes them (RFC 7807).</summary>
internal sealed record ProblemBody(string? Type, string? Title, int? Status, string? Detail, string? Instance);

/// <summary>Source-generated JSON for the wire bodies; unknown response members are ignored so newer servers stay compatible.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RetrieveRequest))]
[JsonSerializable(typeof(RetrieveResponse))]
[JsonSerializable(typeof(RegisterAnswerRequest))]
[JsonSerializable(typeof(RegisterAnswerResponse))]
[JsonSerializable(typeof(AnswerTrace))]
[JsonSerializable(typeof(ExplainRequest))]
[JsonSerializable(typeof(ExplainResponse))]
[JsonSerializable(typeof(DeanonymizeRequest))]
[JsonSerializable(typeof(DeanonymizeResponse))]
[JsonSerializable(typeof(ProblemBody))]
internal sealed partial class CopilotGuardJsonContext : JsonSerializerContext;
