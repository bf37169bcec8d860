using System.Text.Json;
using CopilotGuard.Anonymization;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Ingestion;

/// <summary>A name of a data subject (employee, customer, patient) that the dictionary recognizer should find.</summary>
/// <param name="Name">The full name as written in the records.</param>
/// <param name="Type">The entity type, usually <c>PERSON</c>.</param>
/// <param name="SubjectId">The subject's id, if known (e.g. <c>cust-0007</c>).</param>
public sealed record SubjectName(string Name, string Type, string? SubjectId);

/// <summary>Collects the organization's own names from structured rows, so the anonymizer knows them.</summary>
public static class SubjectNames
{
    /// <summary>Extracts names from row fields called <c>name</c> or ending in <c>_name</c> (string values).</summary>
    public static IEnumerable<SubjectName> Extract(IEnumerable<Chunk> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        foreach (var chunk in chunks)
        {
            if (chunk.Fields is null)
            {
                continue;
            }

            foreach (var (field, value) in chunk.Fields)
            {
                if ((field == "name" || field.EndsWith("_name", StringComparison.Ordinal)) && value.ValueKind == JsonValueKind.String
                    && value.GetString() is { Length: > 2 } name && name.Contains(' ', StringComparison.Ordinal))
                {
                    yield return new SubjectName(name, EntityTypes.Person, chunk.Subjects.IsDefaultOrEmpty ? null : chunk.Subjects[0]);
                }
            }
        }
    }

    /// <summary>Merges names into a JSON file (one array), keeping it sorted and free of duplicates.</summary>
    public static async Task MergeIntoFileAsync(string path, IEnumerable<SubjectName> names, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(names);
        var all = (await ReadFileAsync(path, cancellationToken).ConfigureAwait(false)).Concat(names)
            .DistinctBy(static n => (n.Name, n.Type, n.SubjectId))
            .OrderBy(static n => n.Name, StringComparer.Ordinal)
            .ToList();
        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(all), cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads the names file; a missing file has no names.</summary>
    public static async Task<IReadOnlyList<SubjectName>> ReadFileAsync(string path, CancellationToken cancellationToken) =>
        File.Exists(path)
            ? JsonSerializer.Deserialize<List<SubjectName>>(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)) ?? []
            : [];
}
