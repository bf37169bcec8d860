namespace CopilotGuard.Client;

/// <summary>Configures a <see cref="CopilotGuardClient"/>.</summary>
public sealed class CopilotGuardClientOptions
{
    /// <summary>The address a CopilotGuard server listens on by default.</summary>
    public static readonly Uri DefaultEndpoint = new("http://127.0.0.1:5180/");

    /// <summary>Gets or sets the server's base address (absolute, <c>http</c> or <c>https</c>). The default is <c>http://127.0.0.1:5180/</c>.</summary>
    public Uri Endpoint { get; set; } = DefaultEndpoint;

    /// <summary>Gets or sets the delegate that returns the caller's bearer token for each request. The default is none, which is invalid.</summary>
    /// <remarks>Plug MSAL (<c>AcquireTokenSilent</c>) here, or <see cref="CopilotGuardTokenProviders.Static"/> with a development token.
    /// It is called once per request, so it decides whose identity each call carries; it must be thread-safe.</remarks>
    public Func<CancellationToken, ValueTask<string>>? TokenProvider { get; set; }

    /// <summary>Returns every problem with these options; empty when they are valid.</summary>
    /// <returns>One message per problem.</returns>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Endpoint is null)
        {
            errors.Add($"{nameof(Endpoint)} is required.");
        }
        else if (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttp && Endpoint.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"{nameof(Endpoint)} must be an absolute http or https address (got '{Endpoint}').");
        }
        else if (!string.IsNullOrEmpty(Endpoint.Query) || !string.IsNullOrEmpty(Endpoint.Fragment))
        {
            errors.Add($"{nameof(Endpoint)} must not have a query or a fragment (got '{Endpoint}').");
        }

        if (TokenProvider is null)
        {
            errors.Add($"{nameof(TokenProvider)} is required: every CopilotGuard call carries the caller's bearer token.");
        }

        return errors;
    }

    internal void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("The CopilotGuard client options are not valid: " + string.Join(" ", errors), "options");
        }
    }
}

/// <summary>Creates token providers for <see cref="CopilotGuardClientOptions.TokenProvider"/>.</summary>
public static class CopilotGuardTokenProviders
{
    /// <summary>Returns a provider that always answers the same token, such as one minted by <c>copilotguard token --user ID</c>.</summary>
    /// <param name="token">The bearer token.</param>
    /// <returns>The provider.</returns>
    public static Func<CancellationToken, ValueTask<string>> Static(string token)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        return _ => ValueTask.FromResult(token);
    }
}
