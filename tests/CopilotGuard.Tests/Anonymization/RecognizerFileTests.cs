using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization;

public sealed class RecognizerFileTests
{
    [Fact]
    public void Parse_ValidFile_FindsTheCustomEntity_WithItsValidatorAndContext()
    {
        var recognizer = RecognizerFile.Parse("recognizers.yaml", """
            apiVersion: copilotguard/v1
            recognizers:
              - name: contoso-employee-id
                entity: EMPLOYEE_ID
                pattern: '\be-\d{4}\b'
                score: 0.7
                contextWords: [employee, staff]
              - name: contoso-card-token
                entity: CARD_TOKEN
                pattern: '\b\d{16}\b'
                validator: luhn
            """);
        var analyzer = new EntityAnalyzer([recognizer]);

        var found = analyzer.Analyze("Employee e-1002 paid with 4111111111111111 and 4111111111111112.");

        Assert.Contains(found, static e => e.Type == "EMPLOYEE_ID" && e.Start == 9 && e.End == 15);
        Assert.Single(found, static e => e.Type == "CARD_TOKEN");
    }

    [Fact]
    public void Parse_InvalidFile_ListsEveryProblem()
    {
        var exception = Assert.Throws<AnonymizationConfigurationException>(() => RecognizerFile.Parse("recognizers.yaml", """
            apiVersion: copilotguard/v1
            recognizers:
              - name: broken-regex
                entity: THING
                pattern: '(unclosed'
              - name: bad-validator
                entity: THING
                pattern: 'x'
                validator: sha512
                colour: red
              - name: bad-score
                entity: THING
                pattern: 'y'
                score: high
            """));

        var all = string.Join("\n", exception.Errors);
        Assert.Contains("broken-regex", all, StringComparison.Ordinal);
        Assert.Contains("sha512", all, StringComparison.Ordinal);
        Assert.Contains("unknown field 'colour'", all, StringComparison.Ordinal);
        Assert.Contains("score must be a number", all, StringComparison.Ordinal);
        Assert.True(exception.Errors.Count >= 4);
    }
}
