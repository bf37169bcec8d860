using CopilotGuard.Client;
using CopilotGuard.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.AI;

/// <summary>Adds <see cref="CopilotGuardChatClient"/> to a chat client pipeline.</summary>
public static class CopilotGuardChatClientBuilderExtensions
{
    /// <summary>Grounds the pipeline's inner client with the data the caller may see through CopilotGuard, and registers every answer.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="client">The CopilotGuard client; resolved from the pipeline's services when null.</param>
    /// <param name="configure">Sets the purpose, destination, number of chunks and registration behaviour; the options are validated when the pipeline is built.</param>
    /// <param name="loggerFactory">Creates the middleware's logger; resolved from the services (or none) when null.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    public static ChatClientBuilder UseCopilotGuard(
        this ChatClientBuilder builder,
        CopilotGuardClient? client = null,
        Action<CopilotGuardChatClientOptions>? configure = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((innerClient, services) =>
        {
            var options = new CopilotGuardChatClientOptions();
            configure?.Invoke(options);
            var guardClient = client ?? services.GetRequiredService<CopilotGuardClient>();
            var factory = loggerFactory ?? services.GetService<ILoggerFactory>();
            return new CopilotGuardChatClient(innerClient, guardClient, options, factory?.CreateLogger<CopilotGuardChatClient>());
        });
    }
}
