using System.Text;
using System.Text.RegularExpressions;
using CopilotGuard.Anonymization;
using Xunit.Abstractions;

namespace CopilotGuard.Tests.Anonymization;

public sealed partial class NameRecognizerTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"\[(PERSON|LOCATION|ORGANIZATION) ([^\]]+)\]")]
    private static partial Regex Markup();

    internal static List<(string Text, List<EntitySpan> Gold)> LoadLabelled(string file = "labelled-names.txt")
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Anonymization", "Data", "names", file);
        var cases = new List<(string, List<EntitySpan>)>();
        foreach (string line in File.ReadAllLines(path))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var text = new StringBuilder();
            var gold = new List<EntitySpan>();
            int last = 0;
            foreach (Match m in Markup().Matches(line))
            {
                text.Append(line, last, m.Index - last);
                gold.Add(new EntitySpan(m.Groups[1].Value, text.Length, text.Length + m.Groups[2].Length, 1));
                text.Append(m.Groups[2].Value);
                last = m.Index + m.Length;
            }

            text.Append(line, last, line.Length - last);
            cases.Add((text.ToString(), gold));
        }

        return cases;
    }

    [Theory]
    [InlineData("labelled-names.txt", 0.85, 0.80)]
    [InlineData("labelled-names-holdout.txt", 0.75, 0.60)]
    public void LabelledSet_DefaultNameRecognizer_ReachesPrecisionAndRecall(string file, double minPrecision, double minRecall)
    {
        var analyzer = new EntityAnalyzer([NameRecognizer.Default]);
        var stats = new Dictionary<string, (int Tp, int Fp, int Fn)>();
        var log = new StringBuilder();
        foreach ((string text, List<EntitySpan> gold) in LoadLabelled(file))
        {
            var found = analyzer.Analyze(text);
            foreach (string type in new[] { EntityTypes.Person, EntityTypes.Location, EntityTypes.Organization })
            {
                var g = gold.Where(e => e.Type == type).Select(e => (e.Start, e.End)).ToList();
                var f = found.Where(e => e.Type == type).Select(e => (e.Start, e.End)).ToList();
                (int tp, int fp, int fn) = stats.GetValueOrDefault(type);
                int caseTp = g.Count(f.Contains);
                stats[type] = (tp + caseTp, fp + f.Count(x => !g.Contains(x)), fn + g.Count - caseTp);
                if (caseTp != g.Count || caseTp != f.Count)
                {
                    log.AppendLine($"  {type}: {text} | expected [{string.Join(", ", g.Select(x => text[x.Start..x.End]))}] found [{string.Join(", ", f.Select(x => text[x.Start..x.End]))}]");
                }
            }
        }

        int allTp = 0, allFp = 0, allFn = 0;
        foreach ((string type, (int tp, int fp, int fn)) in stats)
        {
            output.WriteLine($"{file} {type}: precision {Ratio(tp, tp + fp):P1} ({tp}/{tp + fp}), recall {Ratio(tp, tp + fn):P1} ({tp}/{tp + fn})");
            allTp += tp;
            allFp += fp;
            allFn += fn;
        }

        output.WriteLine($"ALL: precision {Ratio(allTp, allTp + allFp):P1}, recall {Ratio(allTp, allTp + allFn):P1}");
        output.WriteLine(log.ToString());
        Assert.True(Ratio(allTp, allTp + allFp) >= minPrecision, $"precision below {minPrecision:P0}");
        Assert.True(Ratio(allTp, allTp + allFn) >= minRecall, $"recall below {minRecall:P0}");
    }

    private static double Ratio(int a, int b) => b == 0 ? 1 : (double)a / b;

    [Theory]
    [InlineData("The note says Sarah Mitchell Maria Garcia wrote the report.", "Sarah Mitchell", "Maria Garcia")]
    [InlineData("Then John Smith Jane Doe called back.", "John Smith", "Jane Doe")]
    [InlineData("Signed: Dr. Sarah Mitchell Maria Garcia", "Dr. Sarah Mitchell", "Maria Garcia")]
    [InlineData("We asked J. Doe Maria Garcia to sign.", "J. Doe", "Maria Garcia")]
    public void Recognize_TwoNamesWithoutPunctuationBetween_FindsBoth(string text, string first, string second)
    {
        // A second name right after the first used to be dropped with the rest of the run, and left in clear.
        var found = new EntityAnalyzer([NameRecognizer.Default]).Analyze(text)
            .Where(static e => e.Type == EntityTypes.Person)
            .Select(e => text[e.Start..e.End])
            .ToList();

        Assert.Equal([first, second], found);
    }

    [Theory]
    [InlineData("Will the new policy apply to contractors?")]
    [InlineData("May we schedule the review for next week?")]
    [InlineData("Mobile devices must be enrolled first.")]
    [InlineData("Reading the logs, the engineer found the cause.")]
    public void Recognize_CommonWordsThatAreNames_ReportsNothing(string text)
    {
        var results = new List<EntitySpan>();
        NameRecognizer.Default.Recognize(text, results);
        Assert.Empty(results);
    }

    [Fact]
    public void Recognize_TitleAndSurname_ReportsPerson()
    {
        const string text = "Please ask Ms. Doe to call back.";
        var results = new List<EntitySpan>();
        NameRecognizer.Default.Recognize(text, results);
        EntitySpan person = Assert.Single(results);
        Assert.Equal("Ms. Doe", text[person.Start..person.End]);
        Assert.Equal(EntityTypes.Person, person.Type);
    }
}
