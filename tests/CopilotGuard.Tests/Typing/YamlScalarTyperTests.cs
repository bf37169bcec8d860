using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using CopilotGuard.Typing;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Tests.Typing;

/// <summary>The one YAML scalar typer follows the YAML 1.2 core schema.</summary>
public sealed class YamlScalarTyperTests
{
    /// <summary>Parses <c>v: text</c> and returns the scalar, so the scalar keeps the style YAML gave it.</summary>
    internal static YamlScalarNode Scalar(string yamlValue)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader("v: " + yamlValue));
        return (YamlScalarNode)((YamlMappingNode)stream.Documents[0].RootNode).Children[new YamlScalarNode("v")];
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("TRUE", true)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    [InlineData("FALSE", false)]
    [InlineData("!!bool true", true)]
    public void PlainBoolean_IsABoolean(string yaml, bool expected)
    {
        Assert.True(YamlScalarTyper.TryType(Scalar(yaml), out var value, out _));
        Assert.Equal(AttributeValue.FromBoolean(expected), value);
    }

    [Theory]
    [InlineData("5", 5)]
    [InlineData("-12", -12)]
    [InlineData("+3", 3)]
    [InlineData("007", 7)]
    [InlineData("0o17", 15)]
    [InlineData("0x1F", 31)]
    [InlineData("1.5", 1.5)]
    [InlineData("-2e3", -2000)]
    [InlineData(".5", 0.5)]
    [InlineData("3.", 3)]
    [InlineData("9007199254740992", 9007199254740992)]
    [InlineData("!!int 42", 42)]
    public void PlainNumber_IsANumber(string yaml, double expected)
    {
        Assert.True(YamlScalarTyper.TryType(Scalar(yaml), out var value, out var problem), problem);
        Assert.Equal(AttributeValue.FromNumber(expected), value);
    }

    [Theory]
    [InlineData("\"true\"", "true")]
    [InlineData("'5'", "5")]
    [InlineData("yes", "yes")]
    [InlineData("on", "on")]
    [InlineData("tRUE", "tRUE")]
    [InlineData("2024-03-01", "2024-03-01")]
    [InlineData("0x", "0x")]
    [InlineData("0o8", "0o8")]
    [InlineData("1_000", "1_000")]
    [InlineData("!!str 5", "5")]
    [InlineData("\"\"", "")]
    [InlineData("General", "General")]
    public void QuotedOrNonCoreText_IsAString(string yaml, string expected)
    {
        Assert.True(YamlScalarTyper.TryType(Scalar(yaml), out var value, out var problem), problem);
        Assert.Equal(AttributeValue.FromString(expected), value);
    }

    [Theory]
    [InlineData("", "null")]
    [InlineData("~", "null")]
    [InlineData("null", "null")]
    [InlineData("NULL", "null")]
    [InlineData(".inf", "not finite")]
    [InlineData("-.Inf", "not finite")]
    [InlineData(".nan", "not finite")]
    [InlineData("1e400", "finite")]
    [InlineData("9007199254740993", "2^53")]
    [InlineData("0xFFFFFFFFFFFFFFFFFF", "2^53")]
    [InlineData("!!int abc", "not a number")]
    [InlineData("!!binary aGk=", "not supported")]
    public void NullNonFiniteOrInexact_IsRefused(string yaml, string expected)
    {
        Assert.False(YamlScalarTyper.TryType(Scalar(yaml), out _, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"5\"", AttributeKind.Number, "5")]
    [InlineData("'true'", AttributeKind.Boolean, "true")]
    [InlineData("5", AttributeKind.String, "5")]
    [InlineData("007", AttributeKind.String, "007")]
    [InlineData("true", AttributeKind.String, "true")]
    [InlineData("2024-03-01", AttributeKind.Timestamp, "2024-03-01T00:00:00Z")]
    [InlineData("\"2024-03-01T09:30:00+01:00\"", AttributeKind.Timestamp, "2024-03-01T08:30:00Z")]
    [InlineData("General", AttributeKind.Label, "General")]
    public void Declared_ConvertsWhatFits(string yaml, AttributeKind declared, string expectedText)
    {
        Assert.True(YamlScalarTyper.TryConvert(Scalar(yaml), "x", declared, LabelTaxonomy.Default, out var value, out var problem), problem);
        Assert.Equal(declared, value.Kind);
        Assert.Equal(expectedText, value.Text);
    }

    [Theory]
    [InlineData("abc", AttributeKind.Number, "attribute 'x' is declared number but the value 'abc' is a string")]
    [InlineData("5", AttributeKind.Boolean, "attribute 'x' is declared boolean but the value '5' is a number")]
    [InlineData("yes", AttributeKind.Boolean, "attribute 'x' is declared boolean but the value 'yes' is a string")]
    [InlineData("true", AttributeKind.Number, "attribute 'x' is declared number but the value 'true' is a boolean")]
    [InlineData("March", AttributeKind.Timestamp, "attribute 'x' is declared timestamp but the value 'March' is a string that is not an ISO 8601 date")]
    [InlineData("20240301", AttributeKind.Timestamp, "attribute 'x' is declared timestamp but the value '20240301' is a number")]
    [InlineData("Secret", AttributeKind.Label, "attribute 'x' is declared label but the value 'Secret' is a string that is not a label")]
    [InlineData("~", AttributeKind.String, "attribute 'x': the value is null")]
    public void Declared_RefusesWhatDoesNotFit(string yaml, AttributeKind declared, string expected)
    {
        Assert.False(YamlScalarTyper.TryConvert(Scalar(yaml), "x", declared, LabelTaxonomy.Default, out _, out var problem));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadValues_EmptyListAndNestedValues()
    {
        var problems = new List<(int Line, string Message)>();
        Assert.Empty(YamlScalarTyper.ReadValues(new YamlSequenceNode(), "tags", null, LabelTaxonomy.Default, problems));
        Assert.Empty(problems);

        var stream = new YamlStream();
        stream.Load(new StringReader("v: [1, [2]]\nw: {a: 1}"));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var values = YamlScalarTyper.ReadValues(root.Children[new YamlScalarNode("v")], "v", null, LabelTaxonomy.Default, problems);
        YamlScalarTyper.ReadValues(root.Children[new YamlScalarNode("w")], "w", null, LabelTaxonomy.Default, problems);
        Assert.Equal([AttributeValue.FromNumber(1)], values);
        Assert.Equal([(1, "attribute 'v' must be a value or a list of values, not a list of lists or mappings"), (2, "attribute 'w' must be a value or a list of values, not a mapping")], problems);
    }
}
