using System.Text.RegularExpressions;
using Azure.Identity;
using CopilotGuard.Connectors.MicrosoftGraph;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Authentication.Azure;

namespace CopilotGuard.Hosting.Identity;

/// <summary>Replaces the Graph transport and credentials, e.g. with responses shaped as Graph documents them in tests.</summary>
/// <param name="Transport">The last HTTP hop of the Graph SDK pipeline.</param>
/// <param name="Authentication">Authenticates Graph requests.</param>
public sealed record GraphTransportOverride(HttpMessageHandler Transport, IAuthenticationProvider Authentication);

/// <summary>Settings of the Microsoft Graph entitlement source, bound from <c>CopilotGuard:Graph</c>.</summary>
/// <remarks>When enabled, principals whose id matches <see cref="PrincipalIdPattern"/> are also resolved from
/// Microsoft Graph, which is authoritative for them (a user deleted or disabled in Entra ID gets nothing even if the
/// directory file still lists it); Graph attributes replace same-named directory attributes. Answers are cached per
/// principal and policy version (<c>CopilotGuard:EntitlementCache</c>). Credentials come from
/// <c>DefaultAzureCredential</c> (workload identity, managed identity, environment); the application needs
/// <c>User.Read.All</c> and <c>GroupMember.Read.All</c>, and <c>CustomSecAttributeAssignment.Read.All</c> for
/// custom security attributes.</remarks>
public sealed class GraphEntitlementSettings
{
    /// <summary>The configuration section.</summary>
    public const string Section = "CopilotGuard:Graph";

    /// <summary>Gets or sets whether Microsoft Graph is an entitlement source. The default is <see langword="false"/>.</summary>
    public bool Enabled { get; set; }

    /// <summary>Gets or sets the Graph endpoint. The default is <c>https://graph.microsoft.com/v1.0</c>.</summary>
    public string BaseUrl { get; set; } = "https://graph.microsoft.com/v1.0";

    /// <summary>Gets or sets the tenant to authenticate against, if not the credential's default.</summary>
    public string? TenantId { get; set; }

    /// <summary>Gets or sets which principal ids Graph is asked about. The default matches Entra object ids (GUIDs).</summary>
    public string PrincipalIdPattern { get; set; } = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

    /// <summary>Gets or sets how long one Graph call may take; a call that has not answered by then fails the lookup, which
    /// fails closed (503, nothing released) unless the cache may serve. The default is 10 seconds.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets the provider settings (paging, throttling, custom security attribute mapping).</summary>
    public MicrosoftGraphEntitlementOptions Provider { get; set; } = new();

    /// <summary>Binds the settings and, when Graph is enabled, creates the entitlement source.</summary>
    /// <param name="configuration">The configuration.</param>
    /// <param name="services">The services, searched for a <see cref="GraphTransportOverride"/>.</param>
    /// <param name="labels">The label taxonomy (for a mapped <c>clearance</c>).</param>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A setting is invalid.</exception>
    public static EntitlementSource? CreateSource(IConfiguration configuration, IServiceCollection services, LabelTaxonomy labels)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(services);
        var settings = new GraphEntitlementSettings();
        configuration.GetSection(Section).Bind(settings);
        if (!settings.Enabled)
        {
            return null;
        }

        var errors = settings.Provider.Validate().Select(static e => "Graph:Provider:" + e).ToList();
        Regex? pattern = null;
        try
        {
            pattern = new Regex(settings.PrincipalIdPattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException exception)
        {
            errors.Add($"Graph:PrincipalIdPattern is not a valid regular expression: {exception.Message}");
        }

        if (settings.Timeout < TimeSpan.FromSeconds(1) || settings.Timeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Graph:Timeout must be between 1 second and 5 minutes (it is {settings.Timeout}).");
        }

        if (!Uri.TryCreate(settings.BaseUrl, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add("Graph:BaseUrl must be an absolute https URL.");
        }

        if (errors.Count > 0)
        {
            throw new Microsoft.Extensions.Options.OptionsValidationException(Section, typeof(GraphEntitlementSettings), errors);
        }

        var transport = services.LastOrDefault(static d => d.ServiceType == typeof(GraphTransportOverride))?.ImplementationInstance as GraphTransportOverride;
        var authentication = transport?.Authentication ?? new AzureIdentityAuthenticationProvider(
            new DefaultAzureCredential(new DefaultAzureCredentialOptions { TenantId = settings.TenantId }),
            allowedHosts: [baseUrl!.Host],
            scopes: [$"{baseUrl.GetLeftPart(UriPartial.Authority)}/.default"]);
        var client = MicrosoftGraphEntitlementProvider.CreateClient(authentication, transport?.Transport, settings.BaseUrl, settings.Timeout);
        return new EntitlementSource(
            new MicrosoftGraphEntitlementProvider(client, settings.Provider, labels),
            EntitlementSourceRole.Authoritative,
            pattern!.IsMatch);
    }
}
