using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using CopilotGuard.Anonymization;
using CopilotGuard.Identity;
using CopilotGuard.Ingestion;
using CopilotGuard.Hosting;

namespace CopilotGuard.Cli;

/// <summary>The <c>anonymize</c> verb: the anonymizer on its own, over standard input.</summary>
internal static class AnonymizeCommand
{
    private static readonly JsonSerializerOptions Lines = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Command Build(Option<string> data, Option<bool> json)
    {
        var jsonl = new Option<bool>("--jsonl") { Description = "Read one {\"id\", \"text\"} object per line and write one {\"id\", \"text\", \"entities\"} per line." };
        var op = new Option<string>("--operator") { Description = "The operator for every entity: replace, redact, mask, hash, encrypt, pseudonymize, generalize or keep.", DefaultValueFactory = _ => "replace" };
        var explain = new Option<bool>("--explain") { Description = "Also report which recognizer found each entity (\"recognizer\" in JSON; a table after the text otherwise)." };
        var fast = new Option<bool>("--fast") { Description = "Use the query-time recognizer set (patterns and rules) instead of the accurate one (adds the context recognizers and the learned NER tagger)." };
        var command = new Command("anonymize", "Detect and anonymize PII in text read from standard input (offsets are UTF-16, end exclusive; types follow Presidio).") { jsonl, op, explain, fast };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            AnonymizationOperator chosen;
            try
            {
                chosen = AnonymizationOperator.Parse(parse.GetValue(op)!);
            }
            catch (ArgumentException exception)
            {
                await Console.Error.WriteLineAsync($"copilotguard: {exception.Message}").ConfigureAwait(false);
                return 2;
            }

            bool explaining = parse.GetValue(explain);
            var anonymizer = await CreateAsync(new DataFolder(parse.GetValue(data)!), !parse.GetValue(fast), cancellationToken).ConfigureAwait(false);
            var policy = new AnonymizationPolicy { DefaultOperator = chosen };
            if (parse.GetValue(jsonl))
            {
                var lineNumber = 0;
                var failed = 0;
                while (await Console.In.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
                {
                    lineNumber++;
                    if (string.IsNullOrWhiteSpace(line))
                    {
                        continue;
                    }

                    InputLine? input;
                    try
                    {
                        input = JsonSerializer.Deserialize<InputLine>(line, Lines);
                    }
                    catch (JsonException exception)
                    {
                        failed++;
                        await Console.Error.WriteLineAsync($"copilotguard: line {lineNumber}: not valid JSON: {exception.Message}").ConfigureAwait(false);
                        continue;
                    }

                    if (input?.Text is null)
                    {
                        failed++;
                        await Console.Error.WriteLineAsync($"copilotguard: line {lineNumber}: expected {{\"id\", \"text\"}}").ConfigureAwait(false);
                        continue;
                    }

                    var result = anonymizer.Anonymize(input.Text, policy, new AnonymizationContext($"cli-{lineNumber}"));
                    Console.WriteLine(JsonSerializer.Serialize(new OutputLine(input.Id, result.Text, Entities(result, explaining)), Lines));
                }

                return failed == 0 ? 0 : 2;
            }

            var text = await Console.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            var single = anonymizer.Anonymize(text, policy, new AnonymizationContext("cli"));
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(new OutputLine(null, single.Text, Entities(single, explaining)), new JsonSerializerOptions(Lines) { WriteIndented = true }) : single.Text);
            if (explaining && !parse.GetValue(json))
            {
                Console.WriteLine();
                Console.WriteLine("type\tstart\tend\tscore\trecognizer\ttext");
                foreach (EntitySpan e in single.Entities)
                {
                    string found = text.Substring(e.Start, e.Length).ReplaceLineEndings(" ");
                    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{e.Type}\t{e.Start}\t{e.End}\t{e.Score:F2}\t{e.Recognizer ?? "?"}\t{found}"));
                }
            }

            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    /// <summary>Builds the anonymizer with the organization's names when a data folder exists, or the default recognizers alone.</summary>
    private static async Task<Anonymizer> CreateAsync(DataFolder data, bool accurate, CancellationToken cancellationToken)
    {
        var names = new List<(string, string, string?)>();
        if (File.Exists(data.DirectoryPath))
        {
            var directory = await DirectoryFile.LoadAsync(data.DirectoryPath, CopilotGuardRuntime.Labels, cancellationToken).ConfigureAwait(false);
            names.AddRange(directory.Principals.Where(static p => p.DisplayName is not null).Select(static p => (p.DisplayName!, EntityTypes.Person, (string?)p.Id)));
        }

        names.AddRange((await SubjectNames.ReadFileAsync(data.SubjectNamesPath, cancellationToken).ConfigureAwait(false)).Select(static n => (n.Name, n.Type, n.SubjectId)));
        IEntityRecognizer[] extra = names.Count == 0 ? [] : [DictionaryRecognizer.Create(names)];
        var analyzer = accurate ? EntityAnalyzer.CreateAccurate(extra) : EntityAnalyzer.CreateDefault(extra);
        return new Anonymizer(analyzer, AnonymizerKeys.CreateRandom(), new InMemoryPseudonymVault(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
    }

    private static List<OutputEntity> Entities(AnonymizerResult result, bool explain) =>
        [.. result.Entities.Select(e => new OutputEntity(e.Type, e.Start, e.End, Math.Round(e.Score, 2), explain ? e.Recognizer : null))];

    private sealed record InputLine(JsonElement? Id, string? Text);

    private sealed record OutputLine(JsonElement? Id, string Text, List<OutputEntity> Entities);

    private sealed record OutputEntity(string Type, int Start, int End, double Score, string? Recognizer = null);
}
