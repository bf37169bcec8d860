using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Typing;

namespace CopilotGuard.Tests.Typing;

/// <summary>Loading a bundle type-checks every condition against the attribute schema and lists every problem.</summary>
public sealed class PolicyTypeCheckerTests
{
    private const string SchemaYaml = """
        apiVersion: copilotguard/v1
        principal:
          department: string
          level: number
        resource:
          restricted: boolean
          clearance_level: number
          created: timestamp
          tags: string
        """;

    private static readonly AttributeSchema Closed = AttributeSchema.Create(AttributeSchemaFile.Parse("attributes.yaml", SchemaYaml));

    private static PolicyBundle Load(string rules, AttributeSchema? schema = null) =>
        new PolicyLoader(LabelTaxonomy.Default, schema ?? Closed).Load([("p.yaml", "apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n" + rules)]);

    private static string Problem(string when, AttributeSchema? schema = null)
    {
        var exception = Assert.Throws<PolicyValidationException>(() => Load($"  - id: r\n    effect: deny\n    when: '{when}'\n", schema));
        return Assert.Single(exception.Errors).ToString();
    }

    [Theory]
    [InlineData("resource.restricted == true")]
    [InlineData("resource.restricted")]
    [InlineData("!resource.restricted")]
    [InlineData("resource.clearance_level > 3 && resource.clearance_level <= principal.level")]
    [InlineData("resource.created < timestamp(\"2024-03-01\")")]
    [InlineData("resource.tags overlaps [\"a\", \"b\"] || \"x\" in resource.tags")]
    [InlineData("resource.label <= \"General\" && resource.label > principal.clearance")]
    [InlineData("resource.source.startsWith(\"k\") && has(resource.restricted) && resource.version >= 2")]
    [InlineData("request.destination != \"internal\" && request.purpose == \"x\"")]
    [InlineData("resource.id in principal.sources && principal.kind == \"agent\"")]
    public void WellTypedConditions_Load(string when) => Assert.NotNull(Load($"  - id: r\n    effect: deny\n    when: '{when}'\n"));

    [Theory]
    [InlineData("resource.restricted == \"true\"", "p.yaml:6 (rule 'r'): in 'when' at column 24: resource.restricted is a boolean but is compared ('==') with the string \"true\"; write true without quotes")]
    [InlineData("resource.clearance_level == \"5\"", "p.yaml:6 (rule 'r'): in 'when' at column 29: resource.clearance_level is a number but is compared ('==') with the string \"5\"; write 5 without quotes")]
    [InlineData("resource.created < \"2024-03-01\"", "p.yaml:6 (rule 'r'): in 'when' at column 20: ranges (<, <=, >, >=) compare numbers, labels and timestamps only; resource.created cannot be ordered against the string \"2024-03-01\"; write timestamp(\"2024-03-01\")")]
    [InlineData("resource.created == \"2024-03-01\"", "p.yaml:6 (rule 'r'): in 'when' at column 21: resource.created is a timestamp but is compared ('==') with the string \"2024-03-01\"; write timestamp(\"2024-03-01\")")]
    [InlineData("resource.tags in [\"a\", 3]", "p.yaml:6 (rule 'r'): in 'when' at column 18: resource.tags is a string but is compared ('in') with the number 3 in the list")]
    [InlineData("resource.clearance_level == principal.department", "p.yaml:6 (rule 'r'): in 'when' at column 26: resource.clearance_level is a number but principal.department is a string; attributes of different types never compare")]
    [InlineData("resource.clearence > 3", "p.yaml:6 (rule 'r'): in 'when' at column 1: resource.clearence is not declared in attributes.yaml, the directory, a source or the built-in attributes")]
    [InlineData("resource.restriced == true", "p.yaml:6 (rule 'r'): in 'when' at column 1: resource.restriced is not declared in attributes.yaml, the directory, a source or the built-in attributes; did you mean resource.restricted?")]
    [InlineData("resource.tags > principal.department", "p.yaml:6 (rule 'r'): in 'when' at column 15: '>' does not apply to resource.tags, which is a string; ranges compare numbers, labels and timestamps")]
    [InlineData("resource.restricted < principal.level", "p.yaml:6 (rule 'r'): in 'when' at column 21: '<' does not apply to resource.restricted, which is a boolean; ranges compare numbers, labels and timestamps")]
    [InlineData("resource.version.startsWith(\"1\")", "p.yaml:6 (rule 'r'): in 'when' at column 1: startsWith does not apply to resource.version, which is a number; it applies to strings")]
    [InlineData("resource.title == \"x\"", "p.yaml:6 (rule 'r'): in 'when' at column 1: resource.title is not an attribute: a document's title is shown to callers but is not readable by policy")]
    [InlineData("resource.restricted > false", "p.yaml:6 (rule 'r'): in 'when' at column 23: ranges (<, <=, >, >=) compare numbers, labels and timestamps only; resource.restricted cannot be ordered against the boolean false")]
    public void EachProblemClass_IsReportedWithFileLineRuleAndAttribute(string when, string expected) => Assert.Equal(expected, Problem(when));

    [Fact]
    public void OpenSchema_AcceptsUnknownAttributes_ButStillChecksWhatItKnows()
    {
        var open = AttributeSchema.BuiltIn;
        Assert.NotNull(Load("  - id: r\n    effect: deny\n    when: resource.clearence > 3 && principal.anything == true\n", open));
        Assert.Equal(
            "p.yaml:6 (rule 'r'): in 'when' at column 21: resource.version is a number but is compared ('==') with the string \"2\"; write 2 without quotes",
            Problem("resource.version == \"2\"", open));
        Assert.Contains("resource.title is not an attribute", Problem("resource.title == \"x\"", open), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryProblem_OfEveryRuleObligationAndGrant_IsListedAtOnce()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => new PolicyLoader(LabelTaxonomy.Default, Closed).Load(
        [
            ("a.yaml", """
                apiVersion: copilotguard/v1
                version: "1"
                rules:
                  - id: typo
                    effect: deny
                    when: resource.clearence == true
                  - id: two
                    effect: allow
                    when: resource.restricted == "true" && principal.department > 3
                obligations:
                  - id: ob
                    when: resource.tags.startsWith("a") && resource.clearance_level.startsWith("1")
                    fields: { ssn: drop }
                deanonymization:
                  - id: grant
                    when: principal.level == "high"
                """),
            ("b.yaml", "apiVersion: copilotguard/v1\nversion: \"1\"\nrules:\n  - id: ok\n    effect: allow\n    when: resource.restricted == false\n"),
        ]));

        Assert.Equal(
            [
                "a.yaml:11 (rule 'ob'): in 'when' at column 34: startsWith does not apply to resource.clearance_level, which is a number; it applies to strings",
                "a.yaml:16 (rule 'grant'): in 'when' at column 20: principal.level is a number but is compared ('==') with the string \"high\"",
                "a.yaml:6 (rule 'typo'): in 'when' at column 1: resource.clearence is not declared in attributes.yaml, the directory, a source or the built-in attributes",
                "a.yaml:9 (rule 'two'): in 'when' at column 24: resource.restricted is a boolean but is compared ('==') with the string \"true\"; write true without quotes",
                "a.yaml:9 (rule 'two'): in 'when' at column 55: '>' does not apply to principal.department, which is a string; ranges compare numbers, labels and timestamps",
            ],
            exception.Errors.Select(static e => e.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AttributeSchemaFile_ProblemsAndConflicts_AreListed()
    {
        var file = Assert.Throws<PolicyValidationException>(() => AttributeSchemaFile.Parse("attributes.yaml", "apiVersion: copilotguard/v1\nresource:\n  a: bool\n  b: { type: number, colour: red }\nsubject: {}\n"));
        Assert.Equal(
            [
                "attributes.yaml:3: resource.a: unknown type 'bool'; expected string, number, boolean, timestamp or label",
                "attributes.yaml:4: resource.b: unknown field 'colour'; expected type and description",
                "attributes.yaml:5: unknown field 'subject'; expected one of apiVersion, description, principal, request, resource",
            ],
            file.Errors.Select(static e => e.ToString()).Order(StringComparer.Ordinal));

        var parsed = AttributeSchemaFile.Parse("attributes.yaml", "apiVersion: copilotguard/v1\nresource:\n  version: string\nprincipal:\n  level: number\n");
        var conflicts = Assert.Throws<PolicyValidationException>(() => AttributeSchema.Create(
            parsed,
            new Dictionary<string, AttributeDeclaration> { ["level"] = new(CopilotGuard.Filtering.AttributeKind.String, "directory.yaml", 7) }));
        Assert.Equal(
            [
                "attributes.yaml:3: resource.version is built in as number; it cannot be string here",
                "directory.yaml:7: principal.level is string here but number in attributes.yaml:5; an attribute has one type",
            ],
            conflicts.Errors.Select(static e => e.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void SampleBundle_LoadsAgainstTheSampleSchemaAndDirectory()
    {
        var root = Policy.PolicyBundleTests.FindRoot();
        var file = AttributeSchemaFile.Parse("attributes.yaml", File.ReadAllText(Path.Combine(root, "samples", "attributes.yaml")));
        var directory = DirectoryFile.Parse("directory.yaml", File.ReadAllText(Path.Combine(root, "samples", "directory.yaml")), LabelTaxonomy.Default, AttributeSchema.Create(file)[AttributeScope.Principal]);
        var schema = AttributeSchema.Create(file, directory.AttributeKinds);

        var bundle = new PolicyLoader(LabelTaxonomy.Default, schema).Load([("contoso.yaml", File.ReadAllText(Path.Combine(root, "samples", "policies", "contoso.yaml")))]);

        Assert.NotEmpty(bundle.Rules);
        Assert.NotEmpty(bundle.Obligations);
    }
}
