using System.Text.Json;
using System.Text.Json.Nodes;
using CopilotGuard.Filtering;
using CopilotGuard.Typing;
using Json.Schema;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Tests.Policy;

/// <summary>The published JSON Schemas accept every sample file and reject broken ones.</summary>
public sealed class SchemaTests
{
    private static readonly string Root = PolicyBundleTests.FindRoot();

    public static TheoryData<string, string> SampleFiles()
    {
        var data = new TheoryData<string, string>
        {
            { "labels.schema.json", "samples/labels.yaml" },
            { "directory.schema.json", "samples/directory.yaml" },
            { "agents.schema.json", "samples/agents.yaml" },
            { "attributes.schema.json", "samples/attributes.yaml" },
            { "destinations.schema.json", "samples/destinations.yaml" },
        };
        foreach (var policy in Directory.EnumerateFiles(Path.Combine(Root, "samples", "policies"), "*.yaml").Where(static p => !p.Contains(".test.", StringComparison.Ordinal)))
        {
            data.Add("policy.schema.json", Path.GetRelativePath(Root, policy));
        }

        foreach (var folder in Directory.EnumerateDirectories(Path.Combine(Root, "samples", "corpus")))
        {
            data.Add("source.schema.json", Path.GetRelativePath(Root, Path.Combine(folder, "source.yaml")));
            if (File.Exists(Path.Combine(folder, "schema.yaml")))
            {
                data.Add("row-schema.schema.json", Path.GetRelativePath(Root, Path.Combine(folder, "schema.yaml")));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SampleFiles))]
    public void SampleFile_ValidatesAgainstItsSchema(string schema, string file)
    {
        var result = Evaluate(schema, File.ReadAllText(Path.Combine(Root, file)));
        Assert.True(result.IsValid, $"{file}: {Describe(result)}");
    }

    [Fact]
    public void EveryDocumentFrontMatter_ValidatesAgainstTheDocumentSchema()
    {
        var documents = Directory.EnumerateFiles(Path.Combine(Root, "samples", "corpus"), "*.md", SearchOption.AllDirectories).ToList();
        Assert.True(documents.Count > 40);
        foreach (var path in documents)
        {
            var text = File.ReadAllText(path).ReplaceLineEndings("\n");
            var front = text[4..text.IndexOf("\n---", 4, StringComparison.Ordinal)];
            var result = Evaluate("document.schema.json", front);
            Assert.True(result.IsValid, $"{path}: {Describe(result)}");
        }
    }

    [Theory]
    [InlineData("policy.schema.json", "apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n  - id: a\n    effect: permit\n    when: \"true\"")]
    [InlineData("policy.schema.json", "apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n  - id: a\n    effect: allow\n    when: \"true\"\n    colour: blue")]
    [InlineData("policy.schema.json", "apiVersion: copilotguard/v1\nversion: \"1\"\nobligations:\n  - id: o\n    fields: { salary: { generalize: { band: -5 } } }")]
    [InlineData("labels.schema.json", "apiVersion: copilotguard/v1\nlabels:\n  - name: Public\n    color: green")]
    [InlineData("directory.schema.json", "apiVersion: copilotguard/v1\nprincipals:\n  - id: x\n    kind: robot")]
    [InlineData("destinations.schema.json", "apiVersion: copilotguard/v1\ndestinations:\n  - id: x\n    kind: partner")]
    [InlineData("destinations.schema.json", "apiVersion: copilotguard/v1\ndestinations:\n  - id: x\n    kind: internal")]
    [InlineData("destinations.schema.json", "apiVersion: copilotguard/v1\ndestinations:\n  - id: x\n    kind: external\n    anonymization: { PERSON: scramble }")]
    [InlineData("destinations.schema.json", "apiVersion: copilotguard/v1\ndestinations: []")]
    [InlineData("row-schema.schema.json", "source: payroll\nidField: id\ntextTemplate: x\nfields:\n  - { name: salary, type: money, label: General }")]
    [InlineData("attributes.schema.json", "apiVersion: copilotguard/v1\nresource:\n  restricted: bool")]
    [InlineData("attributes.schema.json", "apiVersion: copilotguard/v1\nresource:\n  restricted: { type: boolean, colour: blue }")]
    [InlineData("attributes.schema.json", "apiVersion: copilotguard/v1\nsubject:\n  restricted: boolean")]
    [InlineData("source.schema.json", "source: kb\nattributes:\n  restricted: yes")]
    [InlineData("directory.schema.json", "apiVersion: copilotguard/v1\nprincipals:\n  - id: x\n    attributes: { level: ~ }")]
    public void BrokenFile_IsRejected(string schema, string yaml) => Assert.False(Evaluate(schema, yaml).IsValid);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, JsonSchema> Schemas = new(StringComparer.Ordinal);

    // A schema registers its $id globally, so each file is parsed once per test run.
    private static EvaluationResults Evaluate(string schema, string yaml) =>
        Schemas.GetOrAdd(schema, static name => JsonSchema.FromFile(Path.Combine(Root, "schemas", name)))
            .Evaluate(JsonSerializer.SerializeToElement(ToJson(yaml)), new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });

    private static string Describe(EvaluationResults result) =>
        JsonSerializer.Serialize((result.Details ?? []).Where(static d => d.Errors is { Count: > 0 }).Select(static d => new { path = d.InstanceLocation.ToString(), errors = d.Errors }));

    /// <summary>Converts YAML to JSON the way the loaders read it: scalars are typed by <see cref="YamlScalarTyper"/>
    /// (the YAML core schema), and what it refuses (nulls) becomes a JSON null.</summary>
    private static JsonNode? ToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(static pair => KeyValuePair.Create(((YamlScalarNode)pair.Key).Value!, Convert(pair.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(Convert)]),
        YamlScalarNode scalar when !YamlScalarTyper.TryType(scalar, out _, out _) => null,
        YamlScalarNode scalar when YamlScalarTyper.TryType(scalar, out var value, out _) => value.Kind switch
        {
            AttributeKind.Boolean => JsonValue.Create(value.Number != 0),
            AttributeKind.Number => JsonValue.Create(value.Number),
            _ => JsonValue.Create(value.Text),
        },
        _ => throw new InvalidOperationException(node.GetType().Name),
    };
}
