using CopilotGuard.Audit;
using CopilotGuard.Labels;
using CopilotGuard.Policy;

namespace CopilotGuard.Tests.Audit;

public sealed class RetentionFileTests
{
    [Fact]
    public void Parse_ValidFile_ReadsClassesDefaultAndHash()
    {
        const string yaml = """
            apiVersion: copilotguard/v1
            description: Contoso audit retention
            default: P400D
            classes:
              - name: clinical
                description: HIPAA
                purposes: [clinical, treatment]
                maxAge: 10y
              - name: public
                labels: [public, General]
                maxAge: 90d
              - name: admin
                kinds: [admin-suspend, admin-resume]
                maxAge: forever
            """;

        var policy = RetentionFile.Parse("retention.yaml", yaml, LabelTaxonomy.Default);

        Assert.Equal(["clinical", "public", "admin"], policy.Classes.Select(static c => c.Name));
        Assert.Equal(400, policy.Default.Days);
        Assert.Equal(10, policy.Classes[0].MaxAge.Years);
        Assert.Equal(["clinical", "treatment"], policy.Classes[0].Purposes.ToArray());
        Assert.Equal(["Public", "General"], policy.Classes[1].Labels.ToArray());
        Assert.True(policy.Classes[2].MaxAge.IsForever);
        Assert.Equal("retention.yaml", policy.Source);
        Assert.Equal(64, policy.Sha256.Length);
        Assert.NotEqual(policy.Sha256, RetentionFile.Parse("retention.yaml", yaml + "\n# changed\n", LabelTaxonomy.Default).Sha256);
    }

    [Theory]
    [InlineData("P400D", 0, 0, 400, 0)]
    [InlineData("P1Y6M", 1, 6, 0, 0)]
    [InlineData("P2W", 0, 0, 14, 0)]
    [InlineData("PT12H", 0, 0, 0, 12)]
    [InlineData("90d", 0, 0, 90, 0)]
    [InlineData("7y", 7, 0, 0, 0)]
    [InlineData("18mo", 0, 18, 0, 0)]
    [InlineData("3w", 0, 0, 21, 0)]
    [InlineData("36h", 0, 0, 0, 36)]
    public void ParsePeriod_AcceptedForms_GiveTheCalendarParts(string text, int years, int months, int days, int hours)
    {
        var period = RetentionFile.ParsePeriod(text, out var error);

        Assert.Null(error);
        Assert.NotNull(period);
        Assert.Equal((years, months, days, TimeSpan.FromHours(hours)), (period.Years, period.Months, period.Days, period.Time));
    }

    [Theory]
    [InlineData("6m")]
    [InlineData("90")]
    [InlineData("P")]
    [InlineData("PT")]
    [InlineData("P1YT")]
    [InlineData("0d")]
    [InlineData("P0D")]
    [InlineData("2000y")]
    [InlineData("-5d")]
    [InlineData("ninety days")]
    public void ParsePeriod_InvalidText_SaysWhatIsWrong(string text)
    {
        Assert.Null(RetentionFile.ParsePeriod(text, out var error));
        Assert.Contains($"'{text}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EveryKindOfMistake_ListsEachWithItsLine()
    {
        const string yaml = """
            apiVersion: copilotguard/v2
            defualt: 400d
            classes:
              - name: hr
                purposes: [hr]
                maxAge: 6m
              - name: hr
                purposes: [hr-2]
                maxAge: 7y
              - name: Bad Name
                labels: [Secret]
                maxAge: 1y
              - name: default
                kinds: [answer]
                maxAge: 1y
              - name: nothing
                maxAge: 1y
              - name: no-age
                purposes: [x]
              - name: kinds
                kinds: [retention]
                maxAge: 1y
                colour: red
              - name: empty
                purposes: []
                maxAge: 1y
              - just a string
            """;

        var exception = Assert.Throws<PolicyValidationException>(() => RetentionFile.Parse("retention.yaml", yaml, LabelTaxonomy.Default));

        var errors = exception.Errors.Select(static e => e.ToString()).ToList();
        Assert.True(errors.Count == 14, string.Join("\n", errors));
        Assert.Contains(exception.Errors, static e => e.Line == 1 && e.Message.Contains("apiVersion", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 2 && e.Message.Contains("unknown field 'defualt'", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.Contains("default (the maximum age", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 6 && e.Message.Contains("'6m'", StringComparison.Ordinal) && e.RuleId == "hr");
        Assert.Contains(exception.Errors, static e => e.Line == 7 && e.Message.Contains("already declared", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 10 && e.Message.Contains("name is required", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 11 && e.Message.Contains("label 'Secret' is not in the taxonomy", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 13 && e.Message.Contains("reserved", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 16 && e.Message.Contains("at least one of purposes, labels or kinds", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 18 && e.Message.Contains("maxAge is required", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 21 && e.Message.Contains("never expire", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 23 && e.Message.Contains("unknown field 'colour'", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 25 && e.Message.Contains("non-empty list", StringComparison.Ordinal));
        Assert.Contains(exception.Errors, static e => e.Line == 27 && e.Message.Contains("each class is a mapping", StringComparison.Ordinal));
        Assert.Equal(14, errors.Count);
    }

    [Theory]
    [InlineData("apiVersion: copilotguard/v1\ndefault: [1y\n", "not valid YAML")]
    [InlineData("- a\n- b\n", "one mapping")]
    [InlineData("apiVersion: copilotguard/v1\ndefault: 1y\nclasses: oops\n", "classes must be a list")]
    [InlineData("apiVersion: copilotguard/v1\ndefault: {a: 1}\n", "default must be a maximum age")]
    public void Parse_MalformedStructure_IsRejectedWithAReason(string yaml, string reason)
    {
        var exception = Assert.Throws<PolicyValidationException>(() => RetentionFile.Parse("r.yaml", yaml, LabelTaxonomy.Default));

        Assert.Contains(exception.Errors, e => e.Message.Contains(reason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_MissingFile_Throws()
    {
        await Assert.ThrowsAsync<FileNotFoundException>(() => RetentionFile.LoadAsync(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + "-retention.yaml"), LabelTaxonomy.Default, CancellationToken.None));
    }
}

public sealed class RetentionSampleTests
{
    [Fact]
    public async Task Parse_ShippedSample_IsValidAgainstTheSampleTaxonomy()
    {
        var samples = FindSamples();
        var labeling = await CopilotGuard.Labeling.LabelFile.LoadAsync(Path.Combine(samples, "labels.yaml"), CancellationToken.None);

        var policy = await RetentionFile.LoadAsync(Path.Combine(samples, "retention.yaml"), labeling.Taxonomy, CancellationToken.None);

        Assert.Equal(400, policy.Default.Days);
        Assert.Contains(policy.Classes, static c => c.Name == "clinical" && c.MaxAge.Years == 10);
        Assert.Contains(policy.Classes, static c => c.Name == "security-actions" && c.MaxAge.IsForever);
    }

    private static string FindSamples([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        for (var directory = new DirectoryInfo(Path.GetDirectoryName(sourceFile)!); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "samples", "retention.yaml");
            if (File.Exists(candidate))
            {
                return Path.GetDirectoryName(candidate)!;
            }
        }

        throw new FileNotFoundException("samples/retention.yaml was not found above the test source.");
    }
}
