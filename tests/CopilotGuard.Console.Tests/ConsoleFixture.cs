using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CopilotGuard.ConsoleTests;

/// <summary>Skips a browser test when Debian's chromium is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string ChromiumPath = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(ChromiumPath))
        {
            Skip = $"Debian's chromium is not installed at {ChromiumPath} (.ci/run installs it); the console browser tests need it.";
        }
    }
}

/// <summary>Starts the real server (as ServerFixture does) on a loopback port over a fresh data folder, creates sample
/// activity through the HTTP API, and launches one headless Chromium for all the console tests.</summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    private WebApplication? _app;
    private IPlaywright? _playwright;

    public string DataPath { get; } = Directory.CreateTempSubdirectory("copilotguard-console-").FullName;

    public string BaseAddress { get; private set; } = string.Empty;

    public HttpClient Client { get; private set; } = null!;

    public CopilotGuardRuntime Runtime { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Gets the folder the screenshots go to (git-ignored TestResults/ of this project, or CONSOLE_SCREENSHOTS).</summary>
    public string ScreenshotFolder { get; } = FindScreenshotFolder();

    public string AnswerId { get; private set; } = string.Empty;

    public string BobReceiptId { get; private set; } = string.Empty;

    public string BobDocumentId { get; private set; } = string.Empty;

    public string RelabelledDocumentId { get; } = "mkt-brand-guidelines";

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumFactAttribute.ChromiumPath))
        {
            return;
        }

        _app = await CopilotGuardServer.BuildAsync(["--data", DataPath, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true",
            "--CopilotGuard:Anomaly:Enabled=false", "--CopilotGuard:RateLimits:Enabled=false"]);
        await _app.StartAsync();
        Runtime = _app.Services.GetRequiredService<CopilotGuardRuntime>();
        BaseAddress = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Assert.StartsWith("http://127.0.0.1:", BaseAddress, StringComparison.Ordinal);
        Client = new HttpClient { BaseAddress = new Uri(BaseAddress) };
        await SeedAsync();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumFactAttribute.ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(ScreenshotFolder);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        Client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataPath, recursive: true);
    }

    public string Token(string user, string? agent = null) => Runtime.Issuer.CreateToken(user, agent);

    /// <summary>Opens the console in a fresh browser context and signs in with a token pasted into the form (keyboard only).</summary>
    public async Task<IPage> OpenConsoleAsync(string user, string view = "trace")
    {
        var context = await Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1360, Height = 900 }, TimezoneId = "UTC" });
        var page = await context.NewPageAsync();
        page.PageError += (_, error) => throw new InvalidOperationException("Console script error: " + error);
        await page.GotoAsync($"{BaseAddress}/console#{view}");
        await page.FocusAsync("#token");
        await page.Keyboard.TypeAsync(Token(user));
        await page.Keyboard.PressAsync("Enter");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#who")).ToContainTextAsync("token for " + user);
        return page;
    }

    public async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });

    private async Task SeedAsync()
    {
        var watch = Stopwatch.StartNew();
        var (bob1, bobChunks) = await RetrieveAsync("bob", "How do I set up the VPN on my laptop?", "support", "internal");
        var (bob2, _) = await RetrieveAsync("bob", "reset a forgotten customer portal password", "support", "internal");
        await RetrieveAsync("bob", "VPN troubleshooting for Fabrikam", "troubleshooting", "openai");
        await RetrieveAsync("alice", "salary bands for senior engineers", "hr-review", "internal");
        await RetrieveAsync("dana", "patient notes blood pressure follow-up", "treatment", "internal");
        await RetrieveAsync("erin", "unusual card transactions last month", "fraud-investigation", "internal");
        await RetrieveAsync("carol", "payroll salaries of the sales team", "campaign", "openai");
        BobReceiptId = bob1;
        BobDocumentId = bobChunks[0];

        using (var answer = await SendAsync(HttpMethod.Post, "/v1/answers", Token("bob"), new { receiptIds = new[] { bob1, bob2 }, answer = "Install the VPN client, then sign in with your account.", model = "gpt-4o-mini" }))
        {
            var body = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.IsSuccessStatusCode, body);
            AnswerId = JsonDocument.Parse(body).RootElement.GetProperty("answerId").GetString()!;
        }

        foreach (var label in new[] { "Confidential", "General" })
        {
            using var change = await SendAsync(HttpMethod.Put, $"/v1/documents/{RelabelledDocumentId}/label", Token("carol"), new { label });
            Assert.True(change.IsSuccessStatusCode, await change.Content.ReadAsStringAsync());
        }

        using (var suspend = await SendAsync(HttpMethod.Post, "/v1/admin/principals/ticket-agent/suspend", Token("sam"), new { reason = "console test: kill switch drill" }))
        {
            Assert.True(suspend.IsSuccessStatusCode, await suspend.Content.ReadAsStringAsync());
        }

        using (var resume = await SendAsync(HttpMethod.Post, "/v1/admin/principals/ticket-agent/resume", Token("sam"), null))
        {
            Assert.True(resume.IsSuccessStatusCode, await resume.Content.ReadAsStringAsync());
        }

        // Anchor what was seeded in a signed checkpoint now, rather than after the writer's interval.
        Assert.NotNull(await Runtime.Audit.CheckpointAsync(CancellationToken.None));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"Seeding took {watch.Elapsed}.");
    }

    private async Task<(string ReceiptId, List<string> DocumentIds)> RetrieveAsync(string user, string query, string purpose, string destination)
    {
        using var response = await SendAsync(HttpMethod.Post, "/v1/retrieve", Token(user), new { query, top = 5, purpose, destination });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{user}: {(int)response.StatusCode} {body}");
        var json = JsonDocument.Parse(body).RootElement;
        return (json.GetProperty("receiptId").GetString()!, [.. json.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("documentId").GetString()!)]);
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string token, object? body)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Client.SendAsync(request);
    }

    private static string FindScreenshotFolder()
    {
        if (Environment.GetEnvironmentVariable("CONSOLE_SCREENSHOTS") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "CopilotGuard.Console.Tests.csproj")))
            {
                return Path.Combine(folder.FullName, "TestResults", "console-screenshots");
            }
        }

        return Path.Combine(AppContext.BaseDirectory, "TestResults", "console-screenshots");
    }
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}
