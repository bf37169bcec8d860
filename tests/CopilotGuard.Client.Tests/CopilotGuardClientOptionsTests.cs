using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Client.Tests;

public sealed class CopilotGuardClientOptionsTests
{
    [Fact]
    public void Validate_Defaults_ReportMissingTokenProvider()
    {
        var errors = new CopilotGuardClientOptions().Validate();

        Assert.Contains(errors, static e => e.Contains("TokenProvider", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_RelativeEndpointAndNoToken_ReportsBoth()
    {
        var errors = new CopilotGuardClientOptions { Endpoint = new Uri("/v1", UriKind.Relative) }.Validate();

        Assert.Equal(2, errors.Count);
    }

    [Fact]
    public void Constructor_InvalidOptions_Throws()
    {
        using var http = new HttpClient();

        var exception = Assert.Throws<ArgumentException>(() => new CopilotGuardClient(http, new CopilotGuardClientOptions { Endpoint = new Uri("ftp://guard.test/") }));

        Assert.Contains("Endpoint", exception.Message, StringComparison.Ordinal);
        Assert.Contains("TokenProvider", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddCopilotGuardClient_ValidOptions_ResolvesTypedClient()
    {
        using var provider = new ServiceCollection()
            .AddCopilotGuardClient(static o => o.TokenProvider = CopilotGuardTokenProviders.Static("t")).Services
            .BuildServiceProvider();

        var client = provider.GetRequiredService<CopilotGuardClient>();

        Assert.Equal(CopilotGuardClientOptions.DefaultEndpoint, client.Endpoint);
    }

    [Fact]
    public void AddCopilotGuardClient_InvalidOptions_FailValidation()
    {
        using var provider = new ServiceCollection().AddCopilotGuardClient(static _ => { }).Services.BuildServiceProvider();

        var exception = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<CopilotGuardClientOptions>>().Value);

        Assert.Contains(exception.Failures, static f => f.Contains("TokenProvider", StringComparison.Ordinal));
    }
}
