using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Ingestion;

/// <summary>Thrown when ingestion input is invalid; names the file and the problem. Nothing is written.</summary>
public sealed class IngestionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public IngestionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public IngestionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public IngestionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Reads a corpus folder into chunks: one sub-folder per source, Markdown documents with front matter,
/// or structured rows (<c>schema.yaml</c> + <c>rows.jsonl</c>).</summary>
public sealed partial class CorpusReader
{
    /// <summary>The longest chunk, in characters, that paragraphs are packed into.</summary>
    public const int MaxChunkLength = 1200;

    private static readonly ImmutableHashSet<string> SourceKeys = ["source", "displayName", "label", "owner", "department"];
    private static readonly ImmutableHashSet<string> DocumentKeys = ["id", "title", "label", "purviewLabelId", "version", "subjects"];
    private readonly LabelTaxonomy _labels;

    /// <summary>Creates a reader that validates labels against the taxonomy.</summary>
    public CorpusReader(LabelTaxonomy labels) => _labels = labels ?? throw new ArgumentNullException(nameof(labels));

    /// <summary>Reads every source folder under <paramref name="root"/> (or <paramref name="root"/> itself when it is one source).</summary>
    /// <exception cref="IngestionException">A file is invalid.</exception>
    public async Task<IReadOnlyList<Chunk>> ReadAsync(string root, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(root))
        {
            throw new IngestionException($"{root}: the folder does not exist");
        }

        var sourceFolders = File.Exists(Path.Combine(root, "source.yaml"))
            ? [root]
            : Directory.EnumerateDirectories(root).Where(static dir => File.Exists(Path.Combine(dir, "source.yaml"))).Order(StringComparer.Ordinal).ToList();
        if (sourceFolders.Count == 0)
        {
            throw new IngestionException($"{root}: no source folders (folders with a source.yaml) were found");
        }

        var chunks = new List<Chunk>();
        foreach (var folder in sourceFolders)
        {
            chunks.AddRange(await ReadSourceAsync(folder, cancellationToken).ConfigureAwait(false));
        }

        foreach (var duplicate in chunks.GroupBy(static chunk => chunk.Id, StringComparer.Ordinal).Where(static group => group.Count() > 1))
        {
            throw new IngestionException($"chunk id '{duplicate.Key}' occurs more than once; document ids must be unique across the corpus");
        }

        return chunks;
    }

    private async Task<IReadOnlyList<Chunk>> ReadSourceAsync(string folder, CancellationToken cancellationToken)
    {
        var sourcePath = Path.Combine(folder, "source.yaml");
        var sourceNode = ParseMapping(sourcePath, await File.ReadAllTextAsync(sourcePath, cancellationToken).ConfigureAwait(false));
        RejectUnknownKeys(sourcePath, sourceNode, SourceKeys);
        var source = Required(sourcePath, sourceNode, "source");
        if (!IdPattern().IsMatch(source))
        {
            throw new IngestionException($"{sourcePath}: source '{source}' must be lowercase letters, digits and '-'");
        }

        var defaultLabel = Label(sourcePath, Scalar(sourceNode, "label") ?? "Confidential");
        var common = new AttributeSetBuilder();
        foreach (var key in (ReadOnlySpan<string>)["owner", "department"])
        {
            if (Scalar(sourceNode, key) is { } value)
            {
                common.Add(key, value);
            }
        }

        var schemaPath = Path.Combine(folder, "schema.yaml");
        if (File.Exists(schemaPath))
        {
            return await ReadRowsAsync(folder, source, defaultLabel, common, cancellationToken).ConfigureAwait(false);
        }

        var chunks = new List<Chunk>();
        foreach (var path in Directory.EnumerateFiles(folder, "*.md").Order(StringComparer.Ordinal))
        {
            chunks.AddRange(ReadDocument(path, await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), source, defaultLabel, common));
        }

        return chunks;
    }

    /// <summary>Splits one Markdown document with front matter into chunks.</summary>
    public IEnumerable<Chunk> ReadDocument(string path, string content, string source, SensitivityLabel defaultLabel, AttributeSetBuilder common)
    {
        ArgumentNullException.ThrowIfNull(content);
        content = content.ReplaceLineEndings("\n");
        if (!content.StartsWith("---\n", StringComparison.Ordinal))
        {
            throw new IngestionException($"{path}: a document starts with YAML front matter between '---' lines");
        }

        var end = content.IndexOf("\n---", 4, StringComparison.Ordinal);
        if (end < 0)
        {
            throw new IngestionException($"{path}: the front matter is not closed with '---'");
        }

        var front = ParseMapping(path, content[4..end]);
        var body = content[(end + 4)..].TrimStart('-').Trim();
        var id = Required(path, front, "id");
        if (!IdPattern().IsMatch(id))
        {
            throw new IngestionException($"{path}: document id '{id}' must be lowercase letters, digits and '-'");
        }

        var label = Scalar(front, "label") is { } labelName ? Label(path, labelName) : defaultLabel;
        if (Scalar(front, "purviewLabelId") is { } purviewId)
        {
            label = _labels.TryGetByPurviewId(purviewId, out var mapped)
                ? (mapped.Rank > label.Rank ? mapped : label)
                : throw new IngestionException($"{path}: Purview label id '{purviewId}' is not mapped in the label taxonomy");
        }
        var version = 1;
        if (Scalar(front, "version") is { } versionText && (!int.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out version) || version < 1))
        {
            throw new IngestionException($"{path}: version must be a positive whole number");
        }

        var attributes = Copy(common);
        foreach (var (keyNode, valueNode) in front.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (DocumentKeys.Contains(key))
            {
                continue;
            }

            if (ResourceAttributeNames.Reserved.Contains(key))
            {
                throw new IngestionException($"{path}: '{key}' is derived by CopilotGuard and cannot be set as an attribute");
            }

            foreach (var value in Scalars(path, key, valueNode))
            {
                attributes.Add(key, value);
            }
        }

        var subjects = front.Children.TryGetValue(new YamlScalarNode("subjects"), out var subjectsNode)
            ? [.. Scalars(path, "subjects", subjectsNode)]
            : ImmutableArray<string>.Empty;
        var title = Scalar(front, "title");
        var built = attributes.Build();
        var index = 0;
        foreach (var text in Pack(body))
        {
            yield return new Chunk
            {
                Id = $"{id}#{index++}",
                DocumentId = id,
                Source = source,
                Label = label,
                Version = version,
                Title = title,
                Text = text,
                Attributes = built,
                Subjects = subjects,
            };
        }
    }

    private async Task<IReadOnlyList<Chunk>> ReadRowsAsync(string folder, string source, SensitivityLabel defaultLabel, AttributeSetBuilder common, CancellationToken cancellationToken)
    {
        var schemaPath = Path.Combine(folder, "schema.yaml");
        var schema = ParseMapping(schemaPath, await File.ReadAllTextAsync(schemaPath, cancellationToken).ConfigureAwait(false));
        var idField = Required(schemaPath, schema, "idField");
        var subjectField = Scalar(schema, "subjectField");
        var labelField = Scalar(schema, "labelField");
        var titleTemplate = Scalar(schema, "titleTemplate");
        var textTemplate = Required(schemaPath, schema, "textTemplate");
        if (!schema.Children.TryGetValue(new YamlScalarNode("fields"), out var fieldsNode) || fieldsNode is not YamlSequenceNode fieldList)
        {
            throw new IngestionException($"{schemaPath}: fields must be a list of {{name, type, label}}");
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var fieldSchemas = ImmutableDictionary.CreateBuilder<string, FieldSchema>(StringComparer.Ordinal);
        foreach (var field in fieldList.OfType<YamlMappingNode>())
        {
            var name = Required(schemaPath, field, "name");
            if (name == labelField)
            {
                fields[name] = "string";
                continue;
            }

            var label = Label(schemaPath, Required(schemaPath, field, "label"));
            var type = Required(schemaPath, field, "type");
            if (type is not ("string" or "number" or "date" or "boolean"))
            {
                throw new IngestionException($"{schemaPath}: field '{name}' has type '{type}'; expected string, number, date or boolean");
            }

            fields[name] = type;
            fieldSchemas[name] = new FieldSchema(type, label.Name);
        }

        foreach (Match placeholder in Placeholder().Matches(textTemplate))
        {
            if (!fields.ContainsKey(placeholder.Groups[1].Value))
            {
                throw new IngestionException($"{schemaPath}: textTemplate names '{placeholder.Groups[1].Value}', which is not a declared field");
            }
        }

        var rowSchema = new RowSchema(textTemplate, fieldSchemas.ToImmutable());

        var rowsPath = Path.Combine(folder, "rows.jsonl");
        var chunks = new List<Chunk>();
        var lineNumber = 0;
        foreach (var line in await File.ReadAllLinesAsync(rowsPath, cancellationToken).ConfigureAwait(false))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonElement row;
            try
            {
                row = JsonDocument.Parse(line).RootElement.Clone();
            }
            catch (JsonException exception)
            {
                throw new IngestionException($"{rowsPath}:{lineNumber}: not valid JSON: {exception.Message}", exception);
            }

            if (row.ValueKind != JsonValueKind.Object)
            {
                throw new IngestionException($"{rowsPath}:{lineNumber}: each line is one JSON object");
            }

            var values = ImmutableDictionary.CreateBuilder<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in row.EnumerateObject())
            {
                if (!fields.ContainsKey(property.Name))
                {
                    throw new IngestionException($"{rowsPath}:{lineNumber}: unknown field '{property.Name}'; the schema declares {string.Join(", ", fields.Keys)}");
                }

                values[property.Name] = property.Value;
            }

            if (!values.TryGetValue(idField, out var idValue) || idValue.ValueKind != JsonValueKind.String || !IdPattern().IsMatch(idValue.GetString()!))
            {
                throw new IngestionException($"{rowsPath}:{lineNumber}: the id field '{idField}' must be a lowercase id");
            }

            var rowLabel = defaultLabel;
            if (labelField is not null && values.TryGetValue(labelField, out var labelValue))
            {
                // The row's own label (per-row labeling by the data owner); it is metadata, not a returned field.
                rowLabel = labelValue.ValueKind == JsonValueKind.String
                    ? Label($"{rowsPath}:{lineNumber}", labelValue.GetString()!)
                    : throw new IngestionException($"{rowsPath}:{lineNumber}: the label field '{labelField}' must be a label name");
                values.Remove(labelField);
            }

            var documentId = $"{source}-{idValue.GetString()}";
            var attributes = Copy(common);
            var subjects = subjectField is not null && values.TryGetValue(subjectField, out var subject) && subject.ValueKind == JsonValueKind.String
                ? ImmutableArray.Create(subject.GetString()!)
                : [];
            chunks.Add(new Chunk
            {
                Id = $"{documentId}#0",
                DocumentId = documentId,
                Source = source,
                Label = rowLabel,
                Title = titleTemplate is null ? documentId : Render(titleTemplate, values),
                Text = Render(textTemplate, values),
                Attributes = attributes.Build(),
                Subjects = subjects,
                Fields = values.ToImmutable(),
                Schema = rowSchema,
            });
        }

        return chunks;
    }

    /// <summary>Renders a <c>{field}</c> template with a row's values.</summary>
    public static string Render(string template, IReadOnlyDictionary<string, JsonElement> values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        return Placeholder().Replace(template, match =>
            values.TryGetValue(match.Groups[1].Value, out var value) ? FormatValue(value) : string.Empty);
    }

    /// <summary>Formats a field value as it appears in rendered text.</summary>
    public static string FormatValue(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null or JsonValueKind.Undefined => string.Empty,
        _ => value.GetRawText(),
    };

    private static IEnumerable<string> Pack(string body)
    {
        var builder = new StringBuilder();
        foreach (var paragraph in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (builder.Length > 0 && builder.Length + paragraph.Length + 2 > MaxChunkLength)
            {
                yield return builder.ToString();
                builder.Clear();
            }

            if (builder.Length > 0)
            {
                builder.Append("\n\n");
            }

            builder.Append(paragraph);
        }

        if (builder.Length > 0)
        {
            yield return builder.ToString();
        }
    }

    private SensitivityLabel Label(string path, string name) =>
        _labels.TryGet(name, out var label)
            ? label
            : throw new IngestionException($"{path}: unknown sensitivity label '{name}'; known labels: {string.Join(", ", _labels.Labels)}");

    private static AttributeSetBuilder Copy(AttributeSetBuilder common)
    {
        var copy = new AttributeSetBuilder();
        foreach (var (name, values) in common.Build())
        {
            foreach (var value in values)
            {
                copy.Add(name, value);
            }
        }

        return copy;
    }

    private static IEnumerable<string> Scalars(string path, string key, YamlNode node) => node switch
    {
        YamlScalarNode scalar => [scalar.Value ?? string.Empty],
        YamlSequenceNode sequence => sequence.Children.Select(child => child is YamlScalarNode scalar
            ? scalar.Value ?? string.Empty
            : throw new IngestionException($"{path}: '{key}' must be a value or a list of values")),
        _ => throw new IngestionException($"{path}: '{key}' must be a value or a list of values"),
    };

    private static YamlMappingNode ParseMapping(string path, string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            throw new IngestionException($"{path}:{exception.Start.Line}: not valid YAML: {exception.Message}", exception);
        }

        return stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode mapping
            ? mapping
            : throw new IngestionException($"{path}: expected one YAML mapping");
    }

    private static void RejectUnknownKeys(string path, YamlMappingNode node, ImmutableHashSet<string> known)
    {
        foreach (var key in node.Children.Keys.OfType<YamlScalarNode>())
        {
            if (!known.Contains(key.Value ?? string.Empty))
            {
                throw new IngestionException($"{path}:{key.Start.Line}: unknown field '{key.Value}'; expected one of {string.Join(", ", known.Order(StringComparer.Ordinal))}");
            }
        }
    }

    private static string Required(string path, YamlMappingNode node, string key) =>
        Scalar(node, key) is { Length: > 0 } value ? value : throw new IngestionException($"{path}: '{key}' is required");

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"\{([A-Za-z0-9_]+)\}")]
    private static partial Regex Placeholder();
}
