using System.Collections.Frozen;
using System.Reflection;

namespace CopilotGuard.Hosting.ComplianceConsole;

/// <summary>Serves the console's page, script and style sheet from resources embedded in the server assembly.</summary>
/// <remarks>Each response forbids every origin but this one (Content-Security-Policy), framing, MIME sniffing and referrers
/// (a <c>?token=</c> in the address never leaves the page).</remarks>
internal static class ConsoleAssets
{
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, (string ContentType, byte[] Content)> Assets = Load();

    /// <summary>Serves one asset, or 404 for a name that is not one.</summary>
    public static IResult Serve(string name) =>
        Assets.TryGetValue(name, out var asset) ? new AssetResult(asset.ContentType, asset.Content) : TypedResults.NotFound();

    private static FrozenDictionary<string, (string, byte[])> Load()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var assets = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach (var (name, type) in new[] { ("console.html", "text/html; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8"), ("console.css", "text/css; charset=utf-8") })
        {
            using var stream = assembly.GetManifestResourceStream("CopilotGuard.Hosting.Console." + name)
                ?? throw new InvalidOperationException($"The console asset {name} is not embedded in {assembly.GetName().Name}.");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            assets[name] = (type, copy.ToArray());
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed class AssetResult(string contentType, byte[] content) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var headers = httpContext.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-cache";
            httpContext.Response.ContentType = contentType;
            httpContext.Response.ContentLength = content.Length;
            return httpContext.Response.Body.WriteAsync(content, httpContext.RequestAborted).AsTask();
        }
    }
}
