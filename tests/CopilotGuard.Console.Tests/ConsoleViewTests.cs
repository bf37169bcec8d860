using System.Net;
using System.Net.Http.Headers;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CopilotGuard.ConsoleTests;

/// <summary>Drives the compliance console in headless Chromium against the real server, one view per test.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleViewTests(ConsoleFixture fixture)
{
    [ChromiumFact]
    public async Task Console_Page_IsServedWithoutTokenAndHoldsNoData()
    {
        using var response = await fixture.Client.GetAsync("/console");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        var html = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);

        using var data = await fixture.Client.GetAsync("/v1/console/activity");
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
    }

    [ChromiumFact]
    public async Task AnswerTrace_AnswerId_ShowsGraphFromAnswerToSources()
    {
        var page = await fixture.OpenConsoleAsync("cora", "trace");
        await page.FocusAsync("#trace-id");
        await page.Keyboard.TypeAsync(fixture.AnswerId);
        await page.Keyboard.PressAsync("Enter");

        await Expect(page.Locator("#trace-graph svg")).ToBeVisibleAsync();
        await Expect(page.Locator("#trace-summary")).ToContainTextAsync(fixture.AnswerId);
        await Expect(page.Locator("#trace-summary")).ToContainTextAsync("gpt-4o-mini");
        await Expect(page.Locator("#trace-details article.receipt")).ToHaveCountAsync(2);
        await Expect(page.Locator("#trace-details")).ToContainTextAsync(fixture.BobReceiptId);
        await Expect(page.Locator("#trace-details")).ToContainTextAsync("policy version");
        await Expect(page.Locator("#trace-details")).ToContainTextAsync(fixture.BobDocumentId);
        await Expect(page.Locator("#trace-graph")).ToContainTextAsync("source kb");
        Assert.True(await page.Locator("#trace-graph svg rect").CountAsync() >= 5);
        await fixture.ScreenshotAsync(page, "1-answer-trace");
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task AccessTimeline_Document_ListsRetrievalsFiltersAndExportsCsv()
    {
        var page = await fixture.OpenConsoleAsync("cora", "access");
        await page.FillAsync("#access-id", fixture.BobDocumentId);
        await page.FocusAsync("#access-id");
        await page.Keyboard.PressAsync("Enter");

        await Expect(page.Locator("#access-result table")).ToBeVisibleAsync();
        await Expect(page.Locator("#access-result")).ToContainTextAsync("bob");
        await Expect(page.Locator("#access-result")).ToContainTextAsync("support");
        await Expect(page.Locator("#access-timeline svg circle").First).ToBeVisibleAsync();
        await fixture.ScreenshotAsync(page, "2-access-timeline");

        // A purpose nobody declared filters everything out, server-side.
        await page.FillAsync("#access-purpose", "no-such-purpose");
        await page.ClickAsync("#access-form button[type=submit]");
        await Expect(page.Locator("#access-result")).ToContainTextAsync("Nothing to show.");
        await page.FillAsync("#access-purpose", string.Empty);

        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#access-csv"));
        var path = await download.PathAsync();
        var csv = await File.ReadAllLinesAsync(path!);
        Assert.StartsWith("time,receiptId,sequence,principal", csv[0], StringComparison.Ordinal);
        Assert.Contains(csv, line => line.Contains(fixture.BobReceiptId, StringComparison.Ordinal) && line.Contains(fixture.BobDocumentId, StringComparison.Ordinal));
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task AccessTimeline_Paging_FollowsServerCursor()
    {
        var page = await fixture.OpenConsoleAsync("cora", "access");
        await page.CheckAsync("input[name=access-kind][value=subject]");
        await page.FillAsync("#access-id", "p-1004");
        await page.SelectOptionAsync("#access-limit", "10");
        await page.ClickAsync("#access-form button[type=submit]");
        await Expect(page.Locator("#access-page")).ToHaveTextAsync("Page 1");

        // The document timeline with page size 1 must offer a next page when bob's document was returned twice or more.
        await page.CheckAsync("input[name=access-kind][value=document]");
        await page.FillAsync("#access-id", fixture.BobDocumentId);
        await page.EvaluateAsync("() => { const o = document.createElement('option'); o.textContent = '1'; document.getElementById('access-limit').append(o); }");
        await page.SelectOptionAsync("#access-limit", "1");
        await page.ClickAsync("#access-form button[type=submit]");
        await Expect(page.Locator("#access-result tbody tr")).ToHaveCountAsync(1);
        await Expect(page.Locator("#access-next")).ToBeEnabledAsync();
        await page.ClickAsync("#access-next");
        await Expect(page.Locator("#access-page")).ToHaveTextAsync("Page 2");
        await Expect(page.Locator("#access-prev")).ToBeEnabledAsync();
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task Activity_LastDay_ChartsRetrievalsPerSourceAndLabelAndEvents()
    {
        var page = await fixture.OpenConsoleAsync("cora", "activity");
        await Expect(page.Locator("#activity-charts figure")).ToHaveCountAsync(4);
        await Expect(page.Locator("#activity-charts")).ToContainTextAsync("Chunks released per source");
        await Expect(page.Locator("#activity-charts")).ToContainTextAsync("kb");
        await Expect(page.Locator("#activity-charts")).ToContainTextAsync("General");
        await Expect(page.Locator("#activity-totals")).ToContainTextAsync("Retrievals");
        await Expect(page.Locator("#events-result")).ToContainTextAsync("admin-suspend");
        await Expect(page.Locator("#events-result")).ToContainTextAsync("label-change");
        Assert.True(await page.Locator("#activity-charts svg rect").CountAsync() > 3);
        await fixture.ScreenshotAsync(page, "3-activity");
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task Integrity_VerifyNow_ShowsIntactLogAndCheckpoint()
    {
        var page = await fixture.OpenConsoleAsync("cora", "integrity");
        await Expect(page.Locator("#integrity-result")).ToContainTextAsync("Latest signed checkpoint");
        await Expect(page.Locator("#integrity-result")).ToContainTextAsync("tree size");
        await page.FocusAsync("#verify-now");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#verify-status")).ToContainTextAsync("intact");
        await Expect(page.Locator("#last-verification")).ToContainTextAsync("Log intact");
        await Expect(page.Locator("#last-verification")).ToContainTextAsync("cora");
        await fixture.ScreenshotAsync(page, "4-integrity");
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task Labels_DocumentsByLabelAndHistory_ShowChangesFromAuditRecords()
    {
        var page = await fixture.OpenConsoleAsync("cora", "labels");
        await Expect(page.Locator("#label-summary button")).Not.ToHaveCountAsync(0);
        await Expect(page.Locator("#labels-result table")).ToBeVisibleAsync();
        await page.SelectOptionAsync("#labels-label", "Highly Confidential");
        await page.ClickAsync("#labels-form button[type=submit]");
        await Expect(page.Locator("#labels-result")).ToContainTextAsync("Highly Confidential");
        await Expect(page.Locator("#labels-result")).Not.ToContainTextAsync(fixture.RelabelledDocumentId);

        await page.FillAsync("#history-id", fixture.RelabelledDocumentId);
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#history-result tbody tr")).ToHaveCountAsync(2);
        await Expect(page.Locator("#history-result")).ToContainTextAsync("carol");
        await Expect(page.Locator("#history-result")).ToContainTextAsync("Confidential");
        await fixture.ScreenshotAsync(page, "5-labels");
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task Console_UserWithoutComplianceRole_SeesForbiddenMessage()
    {
        var page = await fixture.OpenConsoleAsync("bob", "integrity");
        await Expect(page.Locator("#message")).ToBeVisibleAsync();
        await Expect(page.Locator("#message")).ToContainTextAsync("Access refused (403)");
        await Expect(page.Locator("#message")).ToContainTextAsync("compliance-officer");
        await Expect(page.Locator("#integrity-result .card")).ToHaveCountAsync(0);

        await page.GotoAsync($"{fixture.BaseAddress}/console#trace");
        await page.FillAsync("#trace-id", fixture.AnswerId);
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#message")).ToContainTextAsync("Access refused (403)");
        await Expect(page.Locator("#trace-graph svg")).ToHaveCountAsync(0);
        await fixture.ScreenshotAsync(page, "6-forbidden");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/console/events");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Token("bob"));
        using var response = await fixture.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        await page.Context.CloseAsync();
    }

    [ChromiumFact]
    public async Task Console_KeyboardOnly_ReachesViewsInOrder()
    {
        var page = await fixture.OpenConsoleAsync("cora", "trace");
        await page.FocusAsync("#forget");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("integrity", await page.EvaluateAsync<string>("() => document.activeElement.dataset.view"));
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#h-integrity")).ToBeFocusedAsync();
        await Expect(page.Locator("#integrity-result")).ToContainTextAsync("records");
        await page.Context.CloseAsync();
    }
}
