using CopilotGuard.Filtering;
using CopilotGuard.Ingestion;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using CopilotGuard.Typing;

namespace CopilotGuard.Tests.Typing;

/// <summary>Front matter and source.yaml are typed by the core schema and by the source's declarations.</summary>
public sealed class CorpusTypingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "cg-typing-" + Guid.NewGuid().ToString("N"));

    public CorpusTypingTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Writes a one-source corpus and returns its root.</summary>
    internal static string WriteSource(string root, string sourceYaml, params (string Name, string Content)[] documents)
    {
        var folder = Path.Combine(root, "kb");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "source.yaml"), sourceYaml);
        foreach (var (name, content) in documents)
        {
            File.WriteAllText(Path.Combine(folder, name), content);
        }

        return root;
    }

    private static AttributeValue Single(Chunk chunk, string name)
    {
        Assert.True(chunk.Attributes.TryGet(name, out var values), $"'{name}' is missing");
        return Assert.Single(values);
    }

    [Fact]
    public async Task FrontMatter_ScalarsKeepTheirYamlTypes()
    {
        WriteSource(_root, "source: kb\nlabel: General\n", ("a.md", "---\nid: a\nrestricted: true\nclearance_level: 5\nratio: 0.25\nquoted: \"true\"\ncode: '5'\ntags: []\nowners: [1, 2]\n---\nBody."));

        var chunk = Assert.Single(await new CorpusReader(LabelTaxonomy.Default).ReadAsync(_root, CancellationToken.None));

        Assert.Equal(AttributeValue.FromBoolean(true), Single(chunk, "restricted"));
        Assert.Equal(AttributeValue.FromNumber(5), Single(chunk, "clearance_level"));
        Assert.Equal(AttributeValue.FromNumber(0.25), Single(chunk, "ratio"));
        Assert.Equal(AttributeValue.FromString("true"), Single(chunk, "quoted"));
        Assert.Equal(AttributeValue.FromString("5"), Single(chunk, "code"));
        Assert.True(chunk.Attributes.TryGet("tags", out var tags));
        Assert.Empty(tags);
        Assert.True(chunk.Attributes.TryGet("owners", out var owners));
        Assert.Equal([AttributeValue.FromNumber(1), AttributeValue.FromNumber(2)], owners.ToArray());
    }

    [Fact]
    public async Task DeclaredAttributes_AreConverted()
    {
        WriteSource(
            _root,
            "source: kb\nowner: 42\nattributes:\n  restricted: boolean\n  clearance_level: number\n  created: timestamp\n  tags: string\n",
            ("a.md", "---\nid: a\nrestricted: \"true\"\nclearance_level: '5'\ncreated: 2024-03-01\ntags: [1, true, x]\n---\nBody."));

        var chunk = Assert.Single(await new CorpusReader(LabelTaxonomy.Default).ReadAsync(_root, CancellationToken.None));

        Assert.Equal(AttributeValue.FromBoolean(true), Single(chunk, "restricted"));
        Assert.Equal(AttributeValue.FromNumber(5), Single(chunk, "clearance_level"));
        Assert.Equal(AttributeValue.FromTimestamp(new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero)), Single(chunk, "created"));
        Assert.True(chunk.Attributes.TryGet("tags", out var tags));
        Assert.Equal(["1", "true", "x"], tags.Select(static t => t.Text));
        Assert.All(tags, static t => Assert.Equal(AttributeKind.String, t.Kind));
        Assert.Equal(AttributeValue.FromString("42"), Single(chunk, "owner"));
    }

    [Theory]
    [InlineData("clearance_level: abc", 3, "attribute 'clearance_level' is declared number but the value 'abc' is a string")]
    [InlineData("restricted: 1", 3, "attribute 'restricted' is declared boolean but the value '1' is a number")]
    [InlineData("created: next week", 3, "attribute 'created' is declared timestamp but the value 'next week' is a string")]
    [InlineData("tags:\n  - a\n  - ~", 5, "attribute 'tags': the value is null")]
    [InlineData("undeclared:", 3, "attribute 'undeclared': the value is null")]
    public async Task DeclaredAttribute_ThatDoesNotFit_FailsNamingFileLineAndAttribute(string frontMatter, int line, string expected)
    {
        WriteSource(
            _root,
            "source: kb\nattributes:\n  restricted: boolean\n  clearance_level: number\n  created: timestamp\n  tags: string\n",
            ("a.md", $"---\nid: a\n{frontMatter}\n---\nBody."));

        var exception = await Assert.ThrowsAsync<IngestionException>(() => new CorpusReader(LabelTaxonomy.Default).ReadAsync(_root, CancellationToken.None));

        Assert.StartsWith($"{Path.Combine(_root, "kb", "a.md")}:{line}: {expected}", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SourceDeclaration_ThatContradictsTheSharedSchema_Fails()
    {
        WriteSource(_root, "source: kb\nattributes:\n  restricted: string\n  version: string\n");
        var shared = AttributeSchema.Create(AttributeSchemaFile.Parse("attributes.yaml", "apiVersion: copilotguard/v1\nresource:\n  restricted: boolean\n"));

        var exception = await Assert.ThrowsAsync<IngestionException>(() => new CorpusReader(LabelTaxonomy.Default, shared[CopilotGuard.Policy.AttributeScope.Resource]).ReadAsync(_root, CancellationToken.None));

        Assert.Equal($"{Path.Combine(_root, "kb", "source.yaml")}:3: attribute 'restricted' is declared string but it is boolean in attributes.yaml:3; an attribute has one type", exception.Message);
    }

    [Fact]
    public async Task SharedDeclaration_ConvertsUndeclaredSourceAttributes()
    {
        WriteSource(_root, "source: kb\n", ("a.md", "---\nid: a\nrestricted: 'false'\n---\nBody."));
        var shared = AttributeSchema.Create(AttributeSchemaFile.Parse("attributes.yaml", "apiVersion: copilotguard/v1\nresource:\n  restricted: boolean\n"));

        var chunk = Assert.Single(await new CorpusReader(LabelTaxonomy.Default, shared[CopilotGuard.Policy.AttributeScope.Resource]).ReadAsync(_root, CancellationToken.None));

        Assert.Equal(AttributeValue.FromBoolean(false), Single(chunk, "restricted"));
    }

    [Fact]
    public async Task SourceDeclaration_WithAnUnknownType_Fails()
    {
        WriteSource(_root, "source: kb\nattributes:\n  restricted: bool\n");

        var exception = await Assert.ThrowsAsync<IngestionException>(() => new CorpusReader(LabelTaxonomy.Default).ReadAsync(_root, CancellationToken.None));

        Assert.Equal($"{Path.Combine(_root, "kb", "source.yaml")}:3: attribute 'restricted' has type 'bool'; expected string, number, boolean, timestamp or label", exception.Message);
    }

    [Fact]
    public async Task ReadDeclarations_ReturnsEachSourcesDeclarationsWithLines()
    {
        WriteSource(_root, "source: kb\nattributes:\n  restricted: boolean\n  created: timestamp\n");

        var declarations = Assert.Single(await CorpusReader.ReadDeclarationsAsync(_root, CancellationToken.None));

        Assert.Equal(new AttributeDeclaration(AttributeKind.Boolean, Path.Combine(_root, "kb", "source.yaml"), 3), declarations["restricted"]);
        Assert.Equal(AttributeKind.Timestamp, declarations["created"].Kind);
    }
}
