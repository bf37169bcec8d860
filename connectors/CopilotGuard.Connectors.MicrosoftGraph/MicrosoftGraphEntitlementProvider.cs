using System.Globalization;
using System.Net;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using Microsoft.Graph;
using Microsoft.Graph.Models;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Http.HttpClientLibrary.Middleware;

namespace CopilotGuard.Connectors.MicrosoftGraph;

/// <summary>Resolves users' entitlements from Microsoft Graph: <c>department</c>, <c>jobTitle</c>, <c>country</c>,
/// <c>employeeType</c>, mapped custom security attributes, and transitive group membership (<c>groups</c> holds
/// group object ids, <c>groupNames</c> their display names).</summary>
/// <remarks>
/// Calls <c>GET /users/{id}?$select=...</c> and <c>GET /users/{id}/transitiveMemberOf?$select=id,displayName&amp;$top=N</c>,
/// following <c>@odata.nextLink</c>. A 404 (deleted or unknown user) or a disabled account yields
/// <see langword="null"/>. A 429 or 503 is retried after its Retry-After when that is short enough, otherwise, and
/// for every other failure (401, 403, 5xx, network), <see cref="EntitlementUnavailableException"/> is thrown so the
/// caller fails closed. Put a <c>CachingEntitlementProvider</c> in front of it for a short TTL and a maximum staleness.
/// </remarks>
public sealed class MicrosoftGraphEntitlementProvider : IEntitlementProvider
{
    /// <summary>The user properties read from Graph.</summary>
    public static readonly string[] UserSelect = ["id", "displayName", "accountEnabled", "department", "jobTitle", "country", "employeeType", "customSecurityAttributes"];

    /// <summary>The group properties read from Graph.</summary>
    public static readonly string[] GroupSelect = ["id", "displayName"];

    private readonly GraphServiceClient _client;
    private readonly MicrosoftGraphEntitlementOptions _options;
    private readonly LabelTaxonomy _labels;
    private readonly TimeProvider _time;

    /// <summary>Creates the provider over a Graph client.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public MicrosoftGraphEntitlementProvider(GraphServiceClient client, MicrosoftGraphEntitlementOptions options, LabelTaxonomy labels, TimeProvider? time = null)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _time = time ?? TimeProvider.System;
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid Microsoft Graph options: " + string.Join(" ", errors), nameof(options));
        }
    }

    /// <summary>Creates a Graph client on the SDK's own middleware pipeline, without its retry handler (this provider
    /// handles throttling itself, with the injected clock and a bounded wait).</summary>
    /// <param name="authentication">Authenticates requests (e.g. Azure.Identity through <c>AzureIdentityAuthenticationProvider</c>).</param>
    /// <param name="finalHandler">The transport; the default is the platform's.</param>
    /// <param name="baseUrl">The Graph endpoint. The default is <c>https://graph.microsoft.com/v1.0</c>.</param>
    /// <param name="timeout">How long one call may take before it fails as a timeout; the default is the HTTP client's (100 s).</param>
    public static GraphServiceClient CreateClient(IAuthenticationProvider authentication, HttpMessageHandler? finalHandler = null, string? baseUrl = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(authentication);
        var handlers = GraphClientFactory.CreateDefaultHandlers().Where(static handler => handler is not RetryHandler).ToList();
        var httpClient = GraphClientFactory.Create(handlers, finalHandler: finalHandler);
        if (timeout is { } limit)
        {
            httpClient.Timeout = limit;
        }

        return new GraphServiceClient(httpClient, authentication, baseUrl);
    }

    /// <inheritdoc />
    public async ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(principalId);
        var user = await CallAsync(
            principalId,
            () => _client.Users[principalId].GetAsync(request => request.QueryParameters.Select = UserSelect, cancellationToken),
            cancellationToken).ConfigureAwait(false);
        if (user is null || (_options.DisabledAccountsAreUnknown && user.AccountEnabled == false))
        {
            return null;
        }

        var attributes = new AttributeSetBuilder().Add("id", principalId).Add("kind", "user");
        foreach (var (name, value) in (ReadOnlySpan<(string, string?)>)[("department", user.Department), ("jobTitle", user.JobTitle), ("country", user.Country), ("employeeType", user.EmployeeType)])
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                attributes.Add(name, value);
            }
        }

        AddCustomSecurityAttributes(user.CustomSecurityAttributes, attributes);
        var groupIds = new List<string>();
        var groupNames = new List<string>();
        var page = await CallAsync(
            principalId,
            () => _client.Users[principalId].TransitiveMemberOf.GetAsync(
                request =>
                {
                    request.QueryParameters.Select = GroupSelect;
                    request.QueryParameters.Top = _options.PageSize;
                },
                cancellationToken),
            cancellationToken).ConfigureAwait(false);
        for (var pages = 1; page is not null; pages++)
        {
            foreach (var group in page.Value?.OfType<Group>() ?? [])
            {
                if (group.Id is not null)
                {
                    groupIds.Add(group.Id);
                }

                if (!string.IsNullOrWhiteSpace(group.DisplayName))
                {
                    groupNames.Add(group.DisplayName);
                }
            }

            if (page.OdataNextLink is not { Length: > 0 } next)
            {
                break;
            }

            if (pages >= _options.MaxGroupPages)
            {
                throw new EntitlementUnavailableException($"'{principalId}' is in more groups than {_options.MaxGroupPages} pages hold; refusing a partial group list.");
            }

            page = await CallAsync(principalId, () => _client.Users[principalId].TransitiveMemberOf.WithUrl(next).GetAsync(cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        attributes.AddRange("groups", groupIds.Distinct(StringComparer.Ordinal));
        attributes.AddRange("groupNames", groupNames.Distinct(StringComparer.Ordinal));
        return new Principal(principalId, PrincipalKind.User, attributes.Build(), user.DisplayName);
    }

    private async Task<T?> CallAsync<T>(string principalId, Func<Task<T?>> call, CancellationToken cancellationToken)
        where T : class
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (ApiException exception) when (exception.ResponseStatusCode == (int)HttpStatusCode.NotFound)
            {
                return null;
            }
            catch (ApiException exception) when (exception.ResponseStatusCode is 429 or 503)
            {
                var retryAfter = RetryAfter(exception) ?? _options.DefaultRetryAfter;
                if (attempt >= _options.MaxThrottleRetries || retryAfter > _options.MaxRetryAfter)
                {
                    throw new EntitlementUnavailableException(
                        $"Microsoft Graph throttled the entitlement lookup for '{principalId}' (HTTP {exception.ResponseStatusCode}, retry after {retryAfter.TotalSeconds:0} s).", exception);
                }

                await Task.Delay(retryAfter, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (ApiException exception)
            {
                throw new EntitlementUnavailableException($"Microsoft Graph refused the entitlement lookup for '{principalId}' (HTTP {exception.ResponseStatusCode}).", exception);
            }
            catch (HttpRequestException exception)
            {
                throw new EntitlementUnavailableException($"Microsoft Graph could not be reached for '{principalId}'.", exception);
            }
            catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
            {
                throw new EntitlementUnavailableException($"Microsoft Graph timed out for '{principalId}'.", exception);
            }
        }
    }

    private static TimeSpan? RetryAfter(ApiException exception)
    {
        var header = exception.ResponseHeaders
            .FirstOrDefault(static h => h.Key.Equals("Retry-After", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault();
        return int.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ? TimeSpan.FromSeconds(seconds) : null;
    }

    private void AddCustomSecurityAttributes(CustomSecurityAttributeValue? value, AttributeSetBuilder attributes)
    {
        if (value?.AdditionalData is null || _options.CustomSecurityAttributes.Count == 0)
        {
            return;
        }

        foreach (var (setName, set) in value.AdditionalData)
        {
            if (set is not UntypedObject setObject)
            {
                continue;
            }

            foreach (var (attributeName, node) in setObject.GetValue())
            {
                if (!_options.CustomSecurityAttributes.TryGetValue($"{setName}.{attributeName}", out var target))
                {
                    continue;
                }

                foreach (var scalar in Values(node))
                {
                    if (target == "clearance")
                    {
                        if (scalar.Kind == AttributeKind.String && _labels.TryGet(scalar.Text, out var label))
                        {
                            attributes.Add(target, label.ToAttributeValue());
                        }
                    }
                    else
                    {
                        attributes.Add(target, scalar);
                    }
                }
            }
        }
    }

    /// <summary>Reads a custom security attribute's value keeping its JSON type: strings stay strings, integers and
    /// decimals numbers, booleans booleans (a boolean that became the string "true" would never equal <c>true</c>).</summary>
    private static IEnumerable<AttributeValue> Values(UntypedNode node) => node switch
    {
        UntypedString s when s.GetValue() is { } text => [AttributeValue.FromString(text)],
        UntypedInteger i => [AttributeValue.FromNumber(i.GetValue())],
        UntypedLong l => [AttributeValue.FromNumber(l.GetValue())],
        UntypedDouble d when double.IsFinite(d.GetValue()) => [AttributeValue.FromNumber(d.GetValue())],
        UntypedFloat f when float.IsFinite(f.GetValue()) => [AttributeValue.FromNumber(f.GetValue())],
        UntypedDecimal m => [AttributeValue.FromNumber((double)m.GetValue())],
        UntypedBoolean b => [AttributeValue.FromBoolean(b.GetValue())],
        UntypedArray array => array.GetValue().SelectMany(Values),
        _ => [],
    };
}
