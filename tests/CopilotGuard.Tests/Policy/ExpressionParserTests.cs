using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Policy;

namespace CopilotGuard.Tests.Policy;

public sealed class ExpressionParserTests
{
    private readonly ExpressionParser _parser = new(LabelTaxonomy.Default);

    [Theory]
    [InlineData("resource.source == \"kb\"")]
    [InlineData("resource.label <= principal.clearance")]
    [InlineData("resource.label >= \"Highly Confidential\"")]
    [InlineData("resource.label < label(\"General\")")]
    [InlineData("resource.account in principal.accounts && !(resource.account == 'x')")]
    [InlineData("resource.tags overlaps [\"a\", \"b\", 3, true]")]
    [InlineData("has(resource.patient) || resource.path.startsWith(\"/hr/\")")]
    [InlineData("startsWith(resource.path, \"/hr/\")")]
    [InlineData("principal.manager")]
    [InlineData("true")]
    [InlineData("request.destination != \"internal\" && resource.level > -2.5")]
    [InlineData("\"payroll\" in principal.roles")]
    public void Parse_ValidCondition_Succeeds(string text) => Assert.NotNull(_parser.Parse(text));

    [Theory]
    [InlineData("", "expected an attribute")]
    [InlineData("resource.source ==", "expected an attribute")]
    [InlineData("resource.source == \"kb", "unterminated string")]
    [InlineData("resource.label <= \"Secret\"", "unknown sensitivity label \"Secret\"")]
    [InlineData("resource.level < \"high\"", "ranges")]
    [InlineData("resource.owner == resource.author", "two resource attributes")]
    [InlineData("user.department == \"HR\"", "unknown name 'user'")]
    [InlineData("resource.source == \"kb\" &&", "expected an attribute")]
    [InlineData("resource.source = \"kb\"", "unexpected character '='")]
    [InlineData("(resource.source == \"kb\"", "expected ')'")]
    [InlineData("resource.source == \"kb\" resource", "expected end of condition")]
    [InlineData("resource.path.endsWith(\"x\")", "only startsWith")]
    [InlineData("\"x\"", "must be a comparison")]
    [InlineData("resource.a == \"\\q\"", "unknown escape")]
    [InlineData("resource.a == \"\\ud800\"", "lone surrogate")]
    [InlineData("resource.a == 1e999", "expected end of condition")]
    public void Parse_InvalidCondition_ThrowsNamingTheProblemAndColumn(string text, string expected)
    {
        var exception = Assert.Throws<PolicySyntaxException>(() => _parser.Parse(text));
        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
        Assert.StartsWith("at column ", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DeeplyNestedCondition_IsRejectedWithoutStackOverflow()
    {
        var text = new string('(', 10_000) + "true" + new string(')', 10_000);
        var exception = Assert.Throws<PolicySyntaxException>(() => _parser.Parse(text));
        Assert.Contains("nests deeper", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_OversizedCondition_IsRejected()
    {
        var exception = Assert.Throws<PolicySyntaxException>(() => _parser.Parse("true || " + new string(' ', ExpressionParser.MaxLength)));
        Assert.Contains("limit", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_LabelLiteral_IsTypedByRank()
    {
        var comparison = Assert.IsType<ComparisonExpression>(_parser.Parse("resource.label <= \"confidential\""));
        var literal = Assert.IsType<LiteralExpression>(comparison.Right);
        Assert.Equal(AttributeKind.Label, literal.Values[0].Kind);
        Assert.Equal(2, literal.Values[0].Number);
    }

    [Theory]
    [MemberData(nameof(HostileStrings))]
    public void Parse_HostileStringLiteral_RoundTripsExactly(string value)
    {
        var comparison = Assert.IsType<ComparisonExpression>(_parser.Parse("resource.account == " + Testing.RandomScenarios.Quote(value)));
        Assert.Equal(value, Assert.IsType<LiteralExpression>(comparison.Right).Values[0].Text);
    }

    public static TheoryData<string> HostileStrings => [.. Testing.RandomScenarios.HostileValues];
}
