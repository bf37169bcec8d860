using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization;

/// <summary>Addresses, postcodes, ages, job titles and NRP words: positive and negative cases.</summary>
public sealed class ContextRecognizerTests
{
    [Theory]
    [InlineData("Ship it to 1600 Pennsylvania Avenue NW today.", EntityTypes.Location, "1600 Pennsylvania Avenue")]
    [InlineData("She lives at 42 Wallaby Way, Apt 3B, Sydney.", EntityTypes.Location, "42 Wallaby Way, Apt 3B")]
    [InlineData("Office: 221B Baker Street, London NW1 6XE", EntityTypes.Location, "221B Baker Street")]
    [InlineData("Office: 221B Baker Street, London NW1 6XE", EntityTypes.ZipCode, "NW1 6XE")]
    [InlineData("Mail to P.O. Box 1234, Springfield.", EntityTypes.Location, "P.O. Box 1234")]
    [InlineData("Unsere Adresse: Hauptstraße 5, 10115 Berlin", EntityTypes.Location, "Hauptstraße 5")]
    [InlineData("Unsere Adresse: Hauptstraße 5, 10115 Berlin", EntityTypes.ZipCode, "10115")]
    [InlineData("Envoyez au 12 rue de la Paix, Paris.", EntityTypes.Location, "12 rue de la Paix")]
    [InlineData("Springfield, IL 62704", EntityTypes.ZipCode, "62704")]
    [InlineData("zip code: 98052-6399", EntityTypes.ZipCode, "98052-6399")]
    [InlineData("Toronto, ON M5V 3L9", EntityTypes.ZipCode, "M5V 3L9")]
    [InlineData("Stephansplatz 1\n1010 Wien", EntityTypes.ZipCode, "1010")]
    [InlineData("The patient is 45 years old.", EntityTypes.Age, "45")]
    [InlineData("a 45-year-old man", EntityTypes.Age, "45")]
    [InlineData("aged 7, she moved", EntityTypes.Age, "7")]
    [InlineData("Our Senior Marketing Manager approved it.", EntityTypes.Title, "Senior Marketing Manager")]
    [InlineData("He works as a software engineer.", EntityTypes.Title, "software engineer")]
    [InlineData("Contact our Chief Financial Officer.", EntityTypes.Title, "Chief Financial Officer")]
    [InlineData("She is Brazilian and Catholic.", EntityTypes.Nrp, "Brazilian")]
    [InlineData("She is Brazilian and Catholic.", EntityTypes.Nrp, "Catholic")]
    [InlineData("a South African engineer", EntityTypes.Nrp, "South African")]
    public void Finds(string text, string type, string expected)
    {
        var spans = new List<EntitySpan>();
        ContextRecognizer.Default.Recognize(text, spans);
        Assert.Contains(spans, s => s.Type == type && text[s.Start..s.End] == expected && s.Score >= EntityAnalyzer.DefaultScoreThreshold);
    }

    [Theory]
    [InlineData("We shipped 3 items on Monday and 12 more later.")]
    [InlineData("Invoice 10023 is due; the total is 50000 dollars.")]
    [InlineData("The manager said the plan works.")]
    [InlineData("Order 5 boxes of paper for the Main Street store.")]
    [InlineData("Version 2 Drive was released in 2021.")]
    [InlineData("He read 300 pages in 2 hours.")]
    [InlineData("In March, 2021 Contoso moved its office.")]
    [InlineData("2019 Annual Report")]
    public void IgnoresOrdinaryText(string text)
    {
        IReadOnlyList<EntitySpan> spans = new EntityAnalyzer([ContextRecognizer.Default]).Analyze(text);
        Assert.Empty(spans);
    }

    [Fact]
    public void AmbiguousNrpWords_StayBelowTheThreshold()
    {
        IReadOnlyList<EntitySpan> spans = new EntityAnalyzer([ContextRecognizer.Default]).Analyze("The White board and Black Friday sale.");
        Assert.Empty(spans);
    }
}
