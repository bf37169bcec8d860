using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace CopilotGuard.Architecture.Tests;

/// <summary>Asserts the dependency direction of the architecture (README, "Layout") by reading every project file of the repository:
/// the contracts depend on nothing of ours, the engine only on the contracts, each connector only on the contracts
/// and its own SDK, and only the composition roots (server, CLI, tests, benchmarks) put engine and connectors together.</summary>
public sealed partial class DependencyDirectionTests
{
    private static readonly string Root = FindRoot();

    public static TheoryData<string> ConnectorProjects =>
        [.. Directory.EnumerateDirectories(Path.Combine(Root, "connectors")).Select(Path.GetFileName).OfType<string>()];

    [Fact]
    public void Abstractions_DependOnNoProjectAndNoPackage()
    {
        var project = Load("src/CopilotGuard.Abstractions/CopilotGuard.Abstractions.csproj");
        Assert.Empty(ProjectReferences(project));
        Assert.Empty(PackageReferences(project));
    }

    [Fact]
    public void Engine_DependsOnlyOnAbstractionsAndExtensionsAbstractions()
    {
        var project = Load("src/CopilotGuard/CopilotGuard.csproj");
        Assert.Equal(["CopilotGuard.Abstractions"], ProjectReferences(project));
        foreach (var package in PackageReferences(project))
        {
            Assert.False(package.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal), $"The engine must not reference ASP.NET Core ({package}).");
            Assert.False(package is "Microsoft.Extensions.AI" or "Microsoft.Data.Sqlite" or "Npgsql" or "Azure.Search.Documents" or "Microsoft.Graph", $"The engine must not reference {package}.");
            Assert.True(
                package.EndsWith(".Abstractions", StringComparison.Ordinal) || package is "Microsoft.Extensions.Options" or "YamlDotNet" or "Microsoft.Extensions.Caching.Memory" or "Microsoft.Recognizers.Definitions",
                $"Unexpected engine dependency {package}.");
        }
    }

    [Theory]
    [MemberData(nameof(ConnectorProjects))]
    public void Connector_DependsOnlyOnAbstractions(string name)
    {
        var project = Load($"connectors/{name}/{name}.csproj");
        Assert.Equal(["CopilotGuard.Abstractions"], ProjectReferences(project));
    }

    [Fact]
    public void Client_DependsOnNoProjectOfOurs_AndTheChatMiddlewareOnlyOnTheClient()
    {
        Assert.Empty(ProjectReferences(Load("src/CopilotGuard.Client/CopilotGuard.Client.csproj")));
        Assert.Equal(["CopilotGuard.Client"], ProjectReferences(Load("src/CopilotGuard.Extensions.AI/CopilotGuard.Extensions.AI.csproj")));
    }

    [Fact]
    public void OnlyCompositionRoots_ReferenceTheEngineAndAConnectorTogether()
    {
        var roots = new HashSet<string>(StringComparer.Ordinal) { "CopilotGuard.Hosting", "CopilotGuard.Cli" };
        foreach (var path in Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.csproj", SearchOption.AllDirectories))
        {
            var name = Path.GetFileNameWithoutExtension(path);
            var references = ProjectReferences(XDocument.Load(path));
            if (references.Contains("CopilotGuard") && references.Any(static r => r.StartsWith("CopilotGuard.Connectors.", StringComparison.Ordinal)))
            {
                Assert.Contains(name, roots);
            }
        }
    }

    [Theory]
    [InlineData("Policy")]
    [InlineData("Audit")]
    [InlineData("Identity")]
    [InlineData("Operations")]
    public void EngineNamespace_DoesNotReferenceRetrieval(string folder)
    {
        // Issue 17: retrieval is one consumer of policy, audit, identity and the guarded-operation path, never their
        // dependency. The contracts' CopilotGuard.Retrieval namespace (Chunk, IChunkStore) is another assembly and stays
        // usable by its qualified name; the engine's retrieval types and a using of the namespace are not.
        var retrievalTypes = Directory.EnumerateFiles(Path.Combine(Root, "src/CopilotGuard/Retrieval"), "*.cs")
            .SelectMany(static path => DeclaredType().Matches(File.ReadAllText(path)).Select(static m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Contains("RetrievalBroker", retrievalTypes);
        foreach (var path in Directory.EnumerateFiles(Path.Combine(Root, "src/CopilotGuard", folder), "*.cs", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(path);
            var name = Path.GetRelativePath(Root, path);
            Assert.False(text.Contains("using CopilotGuard.Retrieval;", StringComparison.Ordinal), $"{name} uses the CopilotGuard.Retrieval namespace.");
            var used = Identifier().Matches(text).Select(static m => m.Value).FirstOrDefault(retrievalTypes.Contains);
            Assert.True(used is null, $"{name} references the retrieval type {used}.");
        }
    }

    [Fact]
    public void SourceFolders_AreNamedForConceptsNotLayers()
    {
        string[] layers = ["Services", "Helpers", "Utils", "Utilities", "Managers", "Common", "Misc"];
        foreach (var directory in Directory.EnumerateDirectories(Path.Combine(Root, "src"), "*", SearchOption.AllDirectories)
                     .Concat(Directory.EnumerateDirectories(Path.Combine(Root, "connectors"), "*", SearchOption.AllDirectories)))
        {
            Assert.DoesNotContain(Path.GetFileName(directory), layers);
        }
    }

    [GeneratedRegex(@"^\s*public\s+(?:sealed\s+|static\s+|abstract\s+|partial\s+)*(?:class|record|interface|enum|struct)\s+(\w+)", RegexOptions.Multiline)]
    private static partial Regex DeclaredType();

    [GeneratedRegex(@"\b[A-Z]\w*\b")]
    private static partial Regex Identifier();

    private static XDocument Load(string relative) => XDocument.Load(Path.Combine(Root, relative));

    private static List<string> ProjectReferences(XDocument project) =>
        [.. project.Descendants("ProjectReference").Select(static e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value)).Order(StringComparer.Ordinal)];

    private static List<string> PackageReferences(XDocument project) =>
        [.. project.Descendants("PackageReference").Select(static e => e.Attribute("Include")!.Value)];

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CopilotGuard.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("CopilotGuard.sln not found above " + AppContext.BaseDirectory);
    }
}
