using CopilotGuard.Client;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="CopilotGuardClient"/> as a typed HTTP client.</summary>
public static class CopilotGuardClientServiceCollectionExtensions
{
    /// <summary>Adds a <see cref="CopilotGuardClient"/> whose options are validated when the host starts.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the endpoint and the token provider.</param>
    /// <returns>The HTTP client builder, to add handlers such as resilience.</returns>
    public static IHttpClientBuilder AddCopilotGuardClient(this IServiceCollection services, Action<CopilotGuardClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<CopilotGuardClientOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CopilotGuardClientOptions>, CopilotGuardClientOptionsValidator>();
        return services.AddHttpClient(nameof(CopilotGuardClient)).AddTypedClient((http, provider) =>
            new CopilotGuardClient(http, provider.GetRequiredService<IOptions<CopilotGuardClientOptions>>().Value));
    }

    private sealed class CopilotGuardClientOptionsValidator : IValidateOptions<CopilotGuardClientOptions>
    {
        public ValidateOptionsResult Validate(string? name, CopilotGuardClientOptions options)
        {
            ArgumentNullException.ThrowIfNull(options);
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
