namespace CopilotGuard.Connectors.MicrosoftGraph;

/// <summary>Settings of the Microsoft Graph entitlement provider.</summary>
public sealed class MicrosoftGraphEntitlementOptions
{
    /// <summary>Gets or sets how many pages of transitive memberships are read at most; past it resolution fails
    /// closed rather than returning a partial group list. The default is 20 (up to 19,980 groups at 999 a page).</summary>
    public int MaxGroupPages { get; set; } = 20;

    /// <summary>Gets or sets the page size asked for with <c>$top</c>. The default is 999, Graph's maximum.</summary>
    public int PageSize { get; set; } = 999;

    /// <summary>Gets or sets how many times a throttled (429) or unavailable (503) call is retried. The default is 2.</summary>
    public int MaxThrottleRetries { get; set; } = 2;

    /// <summary>Gets or sets the longest Retry-After the provider waits for; a longer one fails the call at once
    /// (the entitlement cache then serves within its staleness or fails closed). The default is 5 seconds.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the wait when a 429 or 503 carries no Retry-After. The default is 1 second.</summary>
    public TimeSpan DefaultRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets which custom security attributes become entitlement attributes: keys are
    /// <c>AttributeSet.AttributeName</c> in Microsoft Entra ID, values are attribute names (e.g. <c>clearance</c>).
    /// Unmapped custom security attributes are ignored. The default maps none.</summary>
    public IDictionary<string, string> CustomSecurityAttributes { get; set; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Gets or sets whether disabled accounts (<c>accountEnabled: false</c>) are treated as unknown. The default is <see langword="true"/>.</summary>
    public bool DisabledAccountsAreUnknown { get; set; } = true;

    /// <summary>Checks the settings and lists every problem.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxGroupPages < 1)
        {
            errors.Add("MaxGroupPages must be at least 1.");
        }

        if (PageSize is < 1 or > 999)
        {
            errors.Add("PageSize must be between 1 and 999.");
        }

        if (MaxThrottleRetries is < 0 or > 10)
        {
            errors.Add("MaxThrottleRetries must be between 0 and 10.");
        }

        if (MaxRetryAfter < TimeSpan.Zero || MaxRetryAfter > TimeSpan.FromMinutes(1) || DefaultRetryAfter < TimeSpan.Zero || DefaultRetryAfter > MaxRetryAfter)
        {
            errors.Add("MaxRetryAfter must be between 0 and 1 minute, and DefaultRetryAfter between 0 and MaxRetryAfter.");
        }

        foreach (var (source, target) in CustomSecurityAttributes)
        {
            if (source.Split('.') is not [{ Length: > 0 }, { Length: > 0 }] || string.IsNullOrWhiteSpace(target) || target is "id" or "kind")
            {
                errors.Add($"CustomSecurityAttributes: '{source}' must be 'Set.Attribute' and map to an attribute name other than id and kind.");
            }
        }

        return errors;
    }
}
