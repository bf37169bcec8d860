using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using CopilotGuard.Client;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Extensions.AI;

/// <summary>Writes the grounding message with numbered sources and reads the [n] citations back from an answer.</summary>
internal static partial class GroundingPrompt
{
    public const string NoSourcesNote = "No source is available to this user for this question. Say that you cannot answer from the available data.";

    public static IReadOnlyList<CopilotGuardCitation> Number(IReadOnlyList<RetrievedChunk> chunks) =>
        [.. chunks.Select(static (chunk, index) => new CopilotGuardCitation(index + 1, chunk.Id, chunk.DocumentId, chunk.Source, chunk.Label, chunk.Title))];

    public static ChatMessage CreateMessage(string instructions, IReadOnlyList<RetrievedChunk> chunks)
    {
        var text = new StringBuilder(instructions).AppendLine().AppendLine();
        if (chunks.Count == 0)
        {
            text.AppendLine(NoSourcesNote);
        }

        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            text.Append(CultureInfo.InvariantCulture, $"[{i + 1}] chunk {chunk.Id} · document {chunk.DocumentId}");
            if (!string.IsNullOrWhiteSpace(chunk.Title))
            {
                text.Append(CultureInfo.InvariantCulture, $" · {chunk.Title}");
            }

            text.AppendLine();
            text.AppendLine(chunk.Text.Trim());
            if (chunk.Fields is { Count: > 0 } fields)
            {
                foreach (var (name, value) in fields.OrderBy(static f => f.Key, StringComparer.Ordinal))
                {
                    text.Append(CultureInfo.InvariantCulture, $"{name}: {value.GetRawText()}").AppendLine();
                }
            }

            text.AppendLine();
        }

        return new ChatMessage(ChatRole.System, text.ToString().TrimEnd());
    }

    /// <summary>Returns the distinct source numbers cited as [n] or [n, m] in the text, in order of first citation, within 1..count.</summary>
    public static IReadOnlyList<int> CitedNumbers(string text, int count)
    {
        var cited = new List<int>();
        foreach (Match match in CitationPattern().Matches(text))
        {
            foreach (Capture capture in match.Groups["n"].Captures)
            {
                if (int.TryParse(capture.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= count && !cited.Contains(n))
                {
                    cited.Add(n);
                }
            }
        }

        return cited;
    }

    [GeneratedRegex(@"\[\s*(?<n>\d{1,3})(?:\s*,\s*(?<n>\d{1,3}))*\s*\]", RegexOptions.CultureInvariant)]
    private static partial Regex CitationPattern();
}
