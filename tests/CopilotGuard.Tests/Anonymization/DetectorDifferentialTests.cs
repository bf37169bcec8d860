using CopilotGuard.Anonymization;
using CopilotGuard.Tests.Anonymization.Reference;

namespace CopilotGuard.Tests.Anonymization;

/// <summary>
/// Differential tests: the optimized detectors (window pre-checks, first-character skipping) must report exactly what the
/// straightforward implementations report, on generated text with planted entities, near misses and non-ASCII characters.
/// </summary>
public sealed class DetectorDifferentialTests
{
    private const int Texts = 2500;

    private static readonly PatternRecognizer s_patterns = PatternRecognizer.CreateDefault();

    private static readonly DictionaryRecognizer s_dictionary = DictionaryRecognizer.Create(
    [
        ("Jane Alice Doe", EntityTypes.Person, "jane"),
        ("Robert Johnson", EntityTypes.Person, "rjohnson"),
        ("Michael Turner", EntityTypes.Person, "mturner"),
        ("Jänë Döe", EntityTypes.Person, "jd"),
        ("Fabrikam", EntityTypes.Organization, "fabrikam"),
        ("Contoso Ltd", EntityTypes.Organization, "contoso"),
        ("3M", EntityTypes.Organization, "3m"),
    ]);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void PatternRecognizer_GeneratedText_MatchesReferenceScanner(int seed)
    {
        var generator = new PlantedTextGenerator(seed);
        var types = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Texts; i++)
        {
            string text = generator.Next(40 + (i % 400));
            var expected = new List<EntitySpan>();
            ReferencePatternScanner.Recognize(text, expected);
            var actual = new List<EntitySpan>();
            s_patterns.Recognize(text, actual);
            AssertSame(expected, actual, text, seed, i);
            types.UnionWith(expected.Select(e => e.Type));
        }

        // The generator must exercise the patterns, or equality would prove nothing.
        Assert.Superset(
            new HashSet<string>(StringComparer.Ordinal)
            {
                EntityTypes.EmailAddress, EntityTypes.Url, EntityTypes.IpAddress, EntityTypes.MacAddress, EntityTypes.Guid, EntityTypes.CreditCard,
                EntityTypes.IbanCode, EntityTypes.UsSsn, EntityTypes.UsBankNumber, EntityTypes.UsDriverLicense, EntityTypes.UkNhs, EntityTypes.Crypto,
                EntityTypes.DateTime, EntityTypes.Age, EntityTypes.PhoneNumber,
            },
            types);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void DictionaryRecognizer_GeneratedText_MatchesWordByWordWalk(int seed)
    {
        var generator = new PlantedTextGenerator(seed);
        int found = 0;
        for (int i = 0; i < Texts; i++)
        {
            string text = generator.Next(40 + (i % 400));
            var expected = new List<EntitySpan>();
            s_dictionary.RecognizeWordByWord(text, expected);
            var actual = new List<EntitySpan>();
            s_dictionary.Recognize(text, actual);
            AssertSame(expected, actual, text, seed, i);
            found += expected.Count;
        }

        Assert.True(found > Texts / 2, $"The generator planted too few dictionary names ({found}).");
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void NameRecognizer_GeneratedText_MatchesClassifyingEveryRun(int seed)
    {
        var generator = new PlantedTextGenerator(seed);
        int found = 0;
        for (int i = 0; i < Texts; i++)
        {
            string text = generator.Next(40 + (i % 400));
            var expected = new List<EntitySpan>();
            NameRecognizer.Default.RecognizeEveryRun(text, expected);
            var actual = new List<EntitySpan>();
            NameRecognizer.Default.Recognize(text, actual);
            AssertSame(expected, actual, text, seed, i);
            found += expected.Count;
        }

        Assert.True(found > Texts / 2, $"The generator planted too few names ({found}).");
    }

    [Fact]
    public void OverlapResolver_RandomSpans_MatchesPlainGreedyResolution()
    {
        var random = new Random(31);
        string[] types = [EntityTypes.Person, EntityTypes.PhoneNumber, EntityTypes.UsSsn, EntityTypes.DateTime];
        double[] scores = [0.05, 0.3, 0.4, 0.5, 0.85, 1.0];
        int groups = 0;
        for (int round = 0; round < 3000; round++)
        {
            int count = random.Next(0, 60);
            var spans = new List<EntitySpan>(count);
            for (int k = 0; k < count; k++)
            {
                int start = random.Next(0, 200);
                spans.Add(new EntitySpan(types[random.Next(types.Length)], start, start + random.Next(0, 15), scores[random.Next(scores.Length)])
                {
                    SubjectId = random.Next(3) == 0 ? "s" + random.Next(3) : null,
                });
            }

            List<EntitySpan> expected = ReferenceOverlapResolver.Resolve(spans, 0.3);
            IReadOnlyList<EntitySpan> actual = OverlapResolver.Resolve([.. spans], 0.3);
            Assert.Equal(expected, actual);
            groups += spans.Count - expected.Count;
        }

        Assert.True(groups > 1000, "The random spans must overlap often enough to exercise the resolution.");
    }

    [Theory]
    [InlineData("Doe's Doe's Jane Doe's jane doe's")]
    [InlineData("O'Doe Jane-Doe Jane Doe-Jane x-Doe Doe-x 3M 3Ms a3M")]
    [InlineData("Jänë Döe JÄNË DÖE jänë döe ſ Doe")]
    [InlineData("Robert Johnson's Robert Johnson'sJane Doe")]
    [InlineData("mail jane.doe, robert,johnson or jane..doe; michael. turner")]
    [InlineData("")]
    [InlineData("Doe")]
    public void DictionaryRecognizer_EdgeCases_MatchesWordByWordWalk(string text)
    {
        var expected = new List<EntitySpan>();
        s_dictionary.RecognizeWordByWord(text, expected);
        var actual = new List<EntitySpan>();
        s_dictionary.Recognize(text, actual);
        AssertSame(expected, actual, text, 0, 0);
    }

    private static void AssertSame(List<EntitySpan> expected, List<EntitySpan> actual, string text, int seed, int index)
    {
        if (!expected.SequenceEqual(actual))
        {
            Assert.Fail($"seed {seed}, text {index}: expected [{Describe(expected, text)}] but found [{Describe(actual, text)}] in \"{text}\"");
        }
    }

    private static string Describe(List<EntitySpan> spans, string text) =>
        string.Join(", ", spans.Select(s => $"{s.Type} {s.Start}-{s.End} {s.Score:F2} '{text[s.Start..s.End]}'"));
}
