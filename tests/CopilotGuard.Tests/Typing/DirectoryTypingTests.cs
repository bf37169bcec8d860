using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Typing;

namespace CopilotGuard.Tests.Typing;

/// <summary>directory.yaml is typed by the shared core-schema typer; an attribute has one type across principals.</summary>
public sealed class DirectoryTypingTests
{
    private static DirectoryFile Parse(string principals, IReadOnlyDictionary<string, AttributeDeclaration>? declared = null) =>
        DirectoryFile.Parse("directory.yaml", "apiVersion: copilotguard/v1\nprincipals:\n" + principals, LabelTaxonomy.Default, declared);

    private static AttributeValue[] Values(DirectoryFile directory, string principal, string name)
    {
        var found = directory.Principals.Single(p => p.Id == principal);
        Assert.True(found.Attributes.TryGet(name, out var values), $"'{name}' is missing");
        return [.. values];
    }

    [Fact]
    public void Attributes_KeepTheirYamlTypes_AndTheKindsAreRecorded()
    {
        var directory = Parse("""
              - id: alice
                attributes:
                  level: 5
                  contractor: False
                  badge: "5"
                  clearance: Confidential
                  roles: []
              - id: bob
                attributes:
                  level: 0x0A
            """);

        Assert.Equal([AttributeValue.FromNumber(5)], Values(directory, "alice", "level"));
        Assert.Equal([AttributeValue.FromBoolean(false)], Values(directory, "alice", "contractor"));
        Assert.Equal([AttributeValue.FromString("5")], Values(directory, "alice", "badge"));
        Assert.Equal([LabelTaxonomy.Default.Get("Confidential").ToAttributeValue()], Values(directory, "alice", "clearance"));
        Assert.Empty(Values(directory, "alice", "roles"));
        Assert.Equal([AttributeValue.FromNumber(10)], Values(directory, "bob", "level"));
        Assert.Equal(new AttributeDeclaration(AttributeKind.Number, "directory.yaml", 5), directory.AttributeKinds["level"]);
        Assert.Equal(AttributeKind.Boolean, directory.AttributeKinds["contractor"].Kind);
    }

    [Fact]
    public void ConflictingKinds_NullsAndNestedValues_AreAllListedWithLines()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => Parse("""
              - id: alice
                attributes:
                  level: 5
                  manager:
              - id: bob
                attributes:
                  level: high
                  groups: [[a]]
            """));

        Assert.Equal(
            [
                "directory.yaml:6: principal 'alice': attribute 'manager': the value is null; write [] for a present attribute without values, leave the attribute out, or quote the text",
                "directory.yaml:9: principal 'bob', attribute 'level' is a string but it is a number for principal 'alice' (line 5); an attribute has one type (quote numbers and booleans meant as text)",
                "directory.yaml:10: principal 'bob': attribute 'groups' must be a value or a list of values, not a list of lists or mappings",
            ],
            exception.Errors.Select(static e => e.ToString()));
    }

    [Fact]
    public void DeclaredAttributes_AreConverted_OrRefusedWithTheLine()
    {
        var declared = AttributeSchema.Create(AttributeSchemaFile.Parse("attributes.yaml", "apiVersion: copilotguard/v1\nprincipal:\n  level: number\n  badge: string\n"))[AttributeScope.Principal];

        var directory = Parse("  - id: alice\n    attributes: { level: \"5\", badge: 7 }\n", declared);
        Assert.Equal([AttributeValue.FromNumber(5)], Values(directory, "alice", "level"));
        Assert.Equal([AttributeValue.FromString("7")], Values(directory, "alice", "badge"));

        var exception = Assert.Throws<PolicyValidationException>(() => Parse("  - id: alice\n    attributes:\n      level: high\n", declared));
        Assert.Equal("directory.yaml:5: principal 'alice': attribute 'level' is declared number but the value 'high' is a string", Assert.Single(exception.Errors).ToString());
    }

    [Fact]
    public void SampleDirectory_LoadsWithTheSampleSchema()
    {
        var root = Policy.PolicyBundleTests.FindRoot();
        var file = AttributeSchemaFile.Parse("attributes.yaml", File.ReadAllText(Path.Combine(root, "samples", "attributes.yaml")));
        var directory = DirectoryFile.Parse("directory.yaml", File.ReadAllText(Path.Combine(root, "samples", "directory.yaml")), LabelTaxonomy.Default, AttributeSchema.Create(file)[AttributeScope.Principal]);

        var schema = AttributeSchema.Create(file, directory.AttributeKinds);

        Assert.True(schema.IsClosed);
        Assert.Equal(AttributeKind.String, schema[AttributeScope.Principal]["accounts"].Kind);
        Assert.Equal(AttributeKind.Label, schema[AttributeScope.Principal]["clearance"].Kind);
    }
}
