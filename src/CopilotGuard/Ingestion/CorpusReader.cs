using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Typing;
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

    private static readonly ImmutableHashSet<string> SourceKeys = ["source", "displayName", "label", "owner", "department", "attributes"];
    private static readonly ImmutableHashSet<string> DocumentKeys = ["id", "title", "label", "purviewLabelId", "version", "subjects"];
    private readonly LabelTaxonomy _labels;
    private readonly IReadOnlyDictionary<string, AttributeDeclaration> _declared;

    /// <summary>Creates a reader that validates labels against the taxonomy and types attributes by the YAML core
    /// schema, the built-in resource attributes and each source's <c>attributes:</c> declarations.</summary>
    public CorpusReader(LabelTaxonomy labels)
        : this(labels, null)
    {
    }

    /// <summary>Creates a reader that also converts attributes to the given resource declarations (the
    /// <c>resource</c> part of an <see cref="AttributeSchema"/>, e.g. from <c>attributes.yaml</c>).</summary>
    /// <param name="labels">The label taxonomy.</param>
    /// <param name="declared">Resource attribute declarations every source shares; the built-in ones when null.</param>
    public CorpusReader(LabelTaxonomy labels, IReadOnlyDictionary<string, AttributeDeclaration>? declared)
    {
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _declared = declared ?? AttributeSchema.BuiltIn[Policy.AttributeScope.Resource];
    }

    /// <summary>Reads the <c>attributes:</c> declarations of every source folder under <paramref name="root"/> (or of
    /// <paramref name="root"/> itself when it is one source), for an <see cref="AttributeSchema"/>.</summary>
    /// <exception cref="IngestionException">A <c>source.yaml</c> is invalid.</exception>
    public static async Task<IReadOnlyList<IReadOnlyDictionary<string, AttributeDeclaration>>> ReadDeclarationsAsync(string root, CancellationToken cancellationToken)
    {
        var declarations = new List<IReadOnlyDictionary<string, AttributeDeclaration>>();
        foreach (var folder in SourceFolders(root))
        {
            var sourcePath = Path.Combine(folder, "source.yaml");
            var sourceNode = ParseMapping(sourcePath, await File.ReadAllTextAsync(sourcePath, cancellationToken).ConfigureAwait(false), 0);
            declarations.Add(Declarations(sourcePath, sourceNode));
        }

        return declarations;
    }

    /// <summary>Reads every source folder under <paramref name="root"/> (or <paramref name="root"/> itself when it is one source).</summary>
    /// <exception cref="IngestionException">A file is invalid.</exception>
    public async Task<IReadOnlyList<Chunk>> ReadAsync(string root, CancellationToken cancellationToken)
    {
        var sourceFolders = SourceFolders(root);
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

    private static List<string> SourceFolders(string root)
    {
        if (!Directory.Exists(root))
        {
            throw new IngestionException($"{root}: the folder does not exist");
        }

        var sourceFolders = File.Exists(Path.Combine(root, "source.yaml"))
            ? [root]
            : Directory.EnumerateDirectories(root).Where(static dir => File.Exists(Path.Combine(dir, "source.yaml"))).Order(StringComparer.Ordinal).ToList();
        return sourceFolders.Count == 0
            ? throw new IngestionException($"{root}: no source folders (folders with a source.yaml) were found")
            : sourceFolders;
    }

    /// <summary>Reads a source's <c>attributes:</c> block: attribute name to type.</summary>
    private static Dictionary<string, AttributeDeclaration> Declarations(string sourcePath, YamlMappingNode sourceNode)
    {
        var declarations = new Dictionary<string, AttributeDeclaration>(StringComparer.Ordinal);
        if (!sourceNode.Children.TryGetValue(new YamlScalarNode("attributes"), out var node))
        {
            return declarations;
        }

        if (node is not YamlMappingNode map)
        {
            throw new IngestionException($"{sourcePath}:{node.Start.Line}: attributes must map attribute names to types (string, number, boolean, timestamp)");
        }

        foreach (var (keyNode, typeNode) in map.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
            var type = (typeNode as YamlScalarNode)?.Value;
            if (AttributeSchemaFile.ParseKind(type) is not { } kind)
            {
                throw new IngestionException($"{sourcePath}:{typeNode.Start.Line}: attribute '{name}' has type '{type}'; expected string, number, boolean, timestamp or label");
            }

            declarations[name] = new AttributeDeclaration(kind, sourcePath, (int)keyNode.Start.Line);
        }

        return declarations;
    }

    /// <summary>The declarations that apply to a source: the shared ones and the source's own, which must agree.</summary>
    private Dictionary<string, AttributeDeclaration> Effective(string sourcePath, YamlMappingNode sourceNode)
    {
        var effective = new Dictionary<string, AttributeDeclaration>(_declared, StringComparer.Ordinal);
        foreach (var (name, declaration) in Declarations(sourcePath, sourceNode))
        {
            if (effective.TryGetValue(name, out var shared) && shared.Kind != declaration.Kind)
            {
                throw new IngestionException($"{declaration.Where}: attribute '{name}' is declared {AttributeValue.KindName(declaration.Kind)} but it is {AttributeValue.KindName(shared.Kind)} in {shared.Where}; an attribute has one type");
            }

            effective[name] = declaration;
        }

        return effective;
    }

    private async Task<IReadOnlyList<Chunk>> ReadSourceAsync(string folder, CancellationToken cancellationToken)
    {
        var sourcePath = Path.Combine(folder, "source.yaml");
        var sourceNode = ParseMapping(sourcePath, await File.ReadAllTextAsync(sourcePath, cancellationToken).ConfigureAwait(false), 0);
        RejectUnknownKeys(sourcePath, sourceNode, SourceKeys);
        var declared = Effective(sourcePath, sourceNode);
        var source = Required(sourcePath, sourceNode, "source");
        if (!IdPattern().IsMatch(source))
        {
            throw new IngestionException($"{sourcePath}: source '{source}' must be lowercase letters, digits and '-'");
        }

        var defaultLabel = Label(sourcePath, Scalar(sourceNode, "label") ?? "Confidential");
        var common = new AttributeSetBuilder();
        foreach (var key in (ReadOnlySpan<string>)["owner", "department"])
        {
            if (sourceNode.Children.TryGetValue(new YamlScalarNode(key), out var valueNode))
            {
                AddValues(sourcePath, 0, common, key, valueNode, declared);
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
            chunks.AddRange(ReadDocument(path, await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), source, defaultLabel, common, declared));
        }

        return chunks;
    }

    /// <summary>Splits one Markdown document with front matter into chunks, typing its attributes with the reader's
    /// shared declarations.</summary>
    public IEnumerable<Chunk> ReadDocument(string path, string content, string source, SensitivityLabel defaultLabel, AttributeSetBuilder common) =>
        ReadDocument(path, content, source, defaultLabel, common, _declared);

    /// <summary>Splits one Markdown document with front matter into chunks: front-matter attributes are typed by the
    /// YAML core schema, or converted to their declared type (failing with the file, line and attribute when they do
    /// not fit).</summary>
    public IEnumerable<Chunk> ReadDocument(string path, string content, string source, SensitivityLabel defaultLabel, AttributeSetBuilder common, IReadOnlyDictionary<string, AttributeDeclaration> declared)
    {
        ArgumentNullException.ThrowIfNull(declared);
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

        // The front matter starts on the file's second line.
        var front = ParseMapping(path, content[4..end], 1);
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

            AddValues(path, 1, attributes, key, valueNode, declared);
        }

        var subjects = ImmutableArray<string>.Empty;
        if (front.Children.TryGetValue(new YamlScalarNode("subjects"), out var subjectsNode))
        {
            var subjectValues = new AttributeSetBuilder();
            AddValues(path, 1, subjectValues, "subjects", subjectsNode, declared);
            subjects = subjectValues.Build().TryGet("subjects", out var values) ? [.. values.Select(static value => value.Text)] : [];
        }

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
        var schema = ParseMapping(schemaPath, await File.ReadAllTextAsync(schemaPath, cancellationToken).ConfigureAwait(false), 0);
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
            copy.Declare(name);
            foreach (var value in values)
            {
                copy.Add(name, value);
            }
        }

        return copy;
    }

    /// <summary>Adds an attribute's values (a scalar or a list; <c>[]</c> makes it present without values), typed by the
    /// core schema or converted to its declaration; the first problem fails ingestion with <c>file:line</c>.</summary>
    private void AddValues(string path, int lineOffset, AttributeSetBuilder attributes, string key, YamlNode valueNode, IReadOnlyDictionary<string, AttributeDeclaration> declared)
    {
        var problems = new List<(int Line, string Message)>();
        var kind = declared.TryGetValue(key, out var declaration) ? declaration.Kind : (AttributeKind?)null;
        var values = YamlScalarTyper.ReadValues(valueNode, key, kind, _labels, problems);
        if (problems.Count > 0)
        {
            var (line, message) = problems[0];
            throw new IngestionException($"{path}:{line + lineOffset}: {message}");
        }

        attributes.Declare(key);
        foreach (var value in values)
        {
            attributes.Add(key, value);
        }
    }

    private static YamlMappingNode ParseMapping(string path, string yaml, int lineOffset)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            throw new IngestionException($"{path}:{exception.Start.Line + lineOffset}: not valid YAML: {exception.Message}", exception);
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
