using System.Globalization;
using System.Text;
using System.Text.Json;
using CopilotGuard.Anonymization;
using Xunit.Abstractions;

namespace CopilotGuard.Tests.Anonymization;

/// <summary>
/// Runs the Microsoft.Recognizers.Text English sequence specs (MIT, copied under Data/ with their LICENSE) through the
/// default analyzer. An expected entity counts as found only at its exact position; a reported entity of the file's type
/// that no case expects is a false positive. Cases the reference implementation marks NotSupported for .NET are
/// counted apart.
/// </summary>
public sealed class RecognizersTextSpecTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, double, double> Files => new()
    {
        // file, entity type, minimum recall, minimum precision (supported cases)
        { "EmailModel.json", EntityTypes.EmailAddress, 0.98, 0.98 },
        { "GUIDModel.json", EntityTypes.Guid, 0.98, 0.98 },
        { "IpAddressModel.json", EntityTypes.IpAddress, 0.98, 0.98 },
        { "URLModel.json", EntityTypes.Url, 0.98, 0.98 },
        { "PhoneNumberModel.json", EntityTypes.PhoneNumber, 0.97, 0.97 },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void SpecFile_DefaultAnalyzer_ReachesRecallAndPrecision(string file, string type, double minRecall, double minPrecision)
    {
        SpecScore score = Evaluate(file, type, output);
        Assert.True(score.Recall >= minRecall, $"{file}: recall {score.Recall:P1} < {minRecall:P0}");
        Assert.True(score.Precision >= minPrecision, $"{file}: precision {score.Precision:P1} < {minPrecision:P0}");
    }

    internal sealed record SpecScore(int Cases, int Tp, int Fp, int Fn, int NsCases, int NsTp, int NsFn)
    {
        public double Recall => Tp + Fn == 0 ? 1 : (double)Tp / (Tp + Fn);

        public double Precision => Tp + Fp == 0 ? 1 : (double)Tp / (Tp + Fp);
    }

    internal static SpecScore Evaluate(string file, string type, ITestOutputHelper? output)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Anonymization", "Data", "recognizers-text-specs", "English", file);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        EntityAnalyzer analyzer = new([PatternRecognizer.CreateDefault()]);
        int cases = 0, tp = 0, fp = 0, fn = 0, nsCases = 0, nsTp = 0, nsFn = 0;
        var misses = new StringBuilder();
        foreach (JsonElement c in doc.RootElement.EnumerateArray())
        {
            string input = c.GetProperty("Input").GetString()!;
            bool notSupported = IsNotSupportedForDotnet(c);
            var expected = new List<(int Start, int End)>();
            foreach (JsonElement r in c.GetProperty("Results").EnumerateArray())
            {
                string t = r.GetProperty("Text").GetString()!;
                int start = r.TryGetProperty("Start", out JsonElement s) ? s.GetInt32() : input.IndexOf(t, StringComparison.OrdinalIgnoreCase);
                expected.Add((start, start + t.Length));
            }

            var found = analyzer.Analyze(input).Where(e => e.Type == type).Select(e => (e.Start, e.End)).ToList();
            int caseTp = expected.Count(found.Contains);
            int caseFn = expected.Count - caseTp;
            int caseFp = found.Count(f => !expected.Contains(f));
            if (notSupported)
            {
                nsCases++;
                nsTp += caseTp;
                nsFn += caseFn;
            }
            else
            {
                cases++;
                tp += caseTp;
                fn += caseFn;
                fp += caseFp;
            }

            if (!notSupported && (caseFn > 0 || caseFp > 0))
            {
                misses.AppendLine(CultureInfo.InvariantCulture, $"  {input.ReplaceLineEndings(" ")} | expected [{string.Join(", ", expected.Select(e => input[e.Start..e.End]))}] found [{string.Join(", ", found.Select(f => input[f.Start..f.End]))}]");
            }
        }

        var score = new SpecScore(cases, tp, fp, fn, nsCases, nsTp, nsFn);
        output?.WriteLine($"{file}: {cases} cases, recall {score.Recall:P1} ({tp}/{tp + fn}), precision {score.Precision:P1} ({tp}/{tp + fp}); NotSupported-for-dotnet cases: {nsCases}, found {nsTp}/{nsTp + nsFn}");
        output?.WriteLine(misses.ToString());
        return score;
    }

    private static bool IsNotSupportedForDotnet(JsonElement c)
    {
        foreach (string key in new[] { "NotSupported", "NotSupportedBy", "NotSupportedByDesign" })
        {
            if (c.TryGetProperty(key, out JsonElement v) && v.GetString()!.Contains("dotnet", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
