using System.Text.Json;
using CopilotGuard.Cli;

namespace CopilotGuard.Server.Tests.Cli;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}

/// <summary>The <c>anonymize --jsonl</c> contract: one object per line, UTF-16 offsets into the original, end exclusive.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class AnonymizeCommandTests
{
    [Fact]
    public async Task AnonymizeJsonl_WritesOneObjectPerLine_WithOffsetsIntoTheOriginal()
    {
        const string first = "Mail jane.doe@contoso.example or call +1 425 555 0134 about card 4111 1111 1111 1111.";
        const string second = "🙂 Reach 10.0.0.1 now";
        var input = JsonSerializer.Serialize(new { id = 1, text = first }) + "\n" + JsonSerializer.Serialize(new { id = "two", text = second }) + "\n";

        var (exit, output, _) = await RunAsync(input, "anonymize", "--jsonl", "--data", Path.Combine(Path.GetTempPath(), "no-such-copilotguard-folder"));

        Assert.Equal(0, exit);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var one = JsonDocument.Parse(lines[0]);
        Assert.Equal(1, one.RootElement.GetProperty("id").GetInt32());
        var types = new List<string>();
        foreach (var entity in one.RootElement.GetProperty("entities").EnumerateArray())
        {
            var (start, end) = (entity.GetProperty("start").GetInt32(), entity.GetProperty("end").GetInt32());
            types.Add(entity.GetProperty("type").GetString()!);
            Assert.DoesNotContain(first[start..end], one.RootElement.GetProperty("text").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"], types);
        using var two = JsonDocument.Parse(lines[1]);
        var ip = two.RootElement.GetProperty("entities")[0];
        Assert.Equal("IP_ADDRESS", ip.GetProperty("type").GetString());
        Assert.Equal("10.0.0.1", second[ip.GetProperty("start").GetInt32()..ip.GetProperty("end").GetInt32()]);
    }

    [Fact]
    public async Task AnonymizeJsonl_BadLine_IsReportedAndTheRestStillProcessed()
    {
        var (exit, output, error) = await RunAsync("not json\n{\"id\":2,\"text\":\"x@y.example\"}\n", "anonymize", "--jsonl", "--data", Path.Combine(Path.GetTempPath(), "no-such-copilotguard-folder"));
        Assert.Equal(2, exit);
        Assert.Contains("line 1", error, StringComparison.Ordinal);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task AnonymizeExplain_NamesTheRecognizerOfEachEntity()
    {
        const string text = "Please ask Maria Garcia (maria.garcia@contoso.example), 45 years old, about 221B Baker Street.";
        var input = JsonSerializer.Serialize(new { id = 7, text }) + "\n";

        var (exit, output, _) = await RunAsync(input, "anonymize", "--jsonl", "--explain", "--data", Path.Combine(Path.GetTempPath(), "no-such-copilotguard-folder"));

        Assert.Equal(0, exit);
        using var line = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single());
        var found = line.RootElement.GetProperty("entities").EnumerateArray()
            .Select(e => (Type: e.GetProperty("type").GetString(), Text: text[e.GetProperty("start").GetInt32()..e.GetProperty("end").GetInt32()], Recognizer: e.GetProperty("recognizer").GetString()))
            .ToList();
        Assert.Contains(("EMAIL_ADDRESS", "maria.garcia@contoso.example", "patterns"), found);
        Assert.Contains(("PERSON", "Maria Garcia", "ner"), found);
        Assert.Contains(("AGE", "45", "context"), found);
        Assert.Contains(("LOCATION", "221B Baker Street", "context"), found);

        var (plainExit, plain, _) = await RunAsync(text, "anonymize", "--explain", "--data", Path.Combine(Path.GetTempPath(), "no-such-copilotguard-folder"));
        Assert.Equal(0, plainExit);
        Assert.Contains("type\tstart\tend\tscore\trecognizer\ttext", plain, StringComparison.Ordinal);
        Assert.Contains("\tcontext\t45", plain, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string input, params string[] args)
    {
        var (originalIn, originalOut, originalError) = (Console.In, Console.Out, Console.Error);
        using var reader = new StringReader(input);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetIn(reader);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var exit = await CliApp.Build().Parse(args).InvokeAsync();
            return (exit, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetIn(originalIn);
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }
}
