using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization;

public sealed class ChecksumsTests
{
    [Theory]
    [InlineData("4111111111111111", true)]
    [InlineData("5500 0055 5555 5559", true)]
    [InlineData("378282246310005", true)]
    [InlineData("4111111111111112", false)]
    public void Luhn_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.Luhn(value));

    [Theory]
    [InlineData("GB82 WEST 1234 5698 7654 32", true)]
    [InlineData("DE89370400440532013000", true)]
    [InlineData("NL91ABNA0417164300", true)]
    [InlineData("NO9386011117947", true)]
    [InlineData("GB82WEST12345698765431", false)]
    [InlineData("DE89370400440532013001", false)]
    [InlineData("DE8937040044053201300", false)]
    [InlineData("ZZ89370400440532013000", false)]
    public void Iban_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.Iban(value));

    [Theory]
    [InlineData("021000021", true)]
    [InlineData("011000015", true)]
    [InlineData("0210-0002-1", true)]
    [InlineData("021000022", false)]
    public void AbaRouting_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.AbaRouting(value));

    [Theory]
    [InlineData("9434765919", true)]
    [InlineData("943 476 5919", true)]
    [InlineData("4010232137", true)]
    [InlineData("9434765918", false)]
    public void NhsMod11_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.NhsMod11(value));

    [Theory]
    [InlineData("AB1234563", true)]
    [InlineData("AB1234567", false)]
    [InlineData("A12345678", false)]
    public void Dea_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.Dea(value));

    [Theory]
    [InlineData("1234567893", true)]
    [InlineData("1234567890", false)]
    [InlineData("3234567893", false)]
    public void Npi_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.Npi(value));

    [Theory]
    [InlineData("536-22-8726", true)]
    [InlineData("536 22 8726", true)]
    [InlineData("000-12-3456", false)]
    [InlineData("666-12-3456", false)]
    [InlineData("123-45-6789", false)]
    [InlineData("536-00-8726", false)]
    [InlineData("536-22-0000", false)]
    [InlineData("111-11-1111", false)]
    [InlineData("536-22.8726", false)]
    [InlineData("078-05-1120", false)]
    public void SsnPlausible_PresidioRules_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.SsnPlausible(value));

    [Theory]
    [InlineData("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", true)]
    [InlineData("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", true)]
    [InlineData("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", true)]
    [InlineData("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", false)]
    [InlineData("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", false)]
    public void CryptoAddress_KnownValues_MatchesExpectation(string value, bool valid) => Assert.Equal(valid, Checksums.CryptoAddress(value));
}

public sealed class PatternRecognizerTests
{
    private static readonly EntityAnalyzer s_analyzer = new([PatternRecognizer.CreateDefault()]);

    [Theory]
    [InlineData("Card on file: 4111 1111 1111 1111, exp 12/27.", EntityTypes.CreditCard, "4111 1111 1111 1111")]
    [InlineData("Wire it to GB82 WEST 1234 5698 7654 32 today.", EntityTypes.IbanCode, "GB82 WEST 1234 5698 7654 32")]
    [InlineData("Employee SSN 536-22-8726 on record.", EntityTypes.UsSsn, "536-22-8726")]
    [InlineData("Routing number 021000021 for the payroll account.", EntityTypes.AbaRoutingNumber, "021000021")]
    [InlineData("NHS number 943 476 5919 was verified.", EntityTypes.UkNhs, "943 476 5919")]
    [InlineData("Prescriber DEA AB1234563 is registered.", EntityTypes.MedicalLicense, "AB1234563")]
    [InlineData("Provider NPI 1234567893 submitted the claim.", EntityTypes.UsNpi, "1234567893")]
    [InlineData("Send BTC to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa please.", EntityTypes.Crypto, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")]
    [InlineData("The NIC 00:1A:2B:3C:4D:5E dropped off.", EntityTypes.MacAddress, "00:1A:2B:3C:4D:5E")]
    [InlineData("Patient was born on March 3, 1984 in the clinic.", EntityTypes.DateTime, "March 3, 1984")]
    [InlineData("Admitted 2024-02-29 for observation.", EntityTypes.DateTime, "2024-02-29")]
    [InlineData("The patient is 42 years old and stable.", EntityTypes.Age, "42 years old")]
    [InlineData("Passport number A12345678 expires soon.", EntityTypes.UsPassport, "A12345678")]
    [InlineData("Call me on +44 20 7946 0958 ext 12 tomorrow.", EntityTypes.PhoneNumber, "+44 20 7946 0958 ext 12")]
    public void Analyze_ValidValue_ReportsEntity(string text, string type, string expected)
    {
        EntitySpan e = Assert.Single(s_analyzer.Analyze(text), x => x.Type == type);
        Assert.Equal(expected, text[e.Start..e.End]);
    }

    [Theory]
    [InlineData("Card on file: 4111 1111 1111 1112.", EntityTypes.CreditCard)]
    [InlineData("Wire it to GB82 WEST 1234 5698 7654 31 today.", EntityTypes.IbanCode)]
    [InlineData("Employee SSN 666-22-8726 on record.", EntityTypes.UsSsn)]
    [InlineData("Routing number 021000022 for the payroll account.", EntityTypes.AbaRoutingNumber)]
    [InlineData("NHS number 943 476 5918 was verified.", EntityTypes.UkNhs)]
    [InlineData("Prescriber DEA AB1234567 is registered.", EntityTypes.MedicalLicense)]
    [InlineData("Provider NPI 1234567890 submitted the claim.", EntityTypes.UsNpi)]
    [InlineData("Send BTC to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb please.", EntityTypes.Crypto)]
    [InlineData("Admitted 2024-13-40 for observation.", EntityTypes.DateTime)]
    public void Analyze_ChecksumFailure_ReportsNothingOfThatType(string text, string type) =>
        Assert.DoesNotContain(s_analyzer.Analyze(text), x => x.Type == type);

    [Fact]
    public void Analyze_PlainProse_ReportsNothing()
    {
        const string text = "The quarterly review covered revenue, churn and the hiring plan. Costs for Q3 were 12% lower. See you at 10:30.";
        Assert.Empty(s_analyzer.Analyze(text));
    }
}
