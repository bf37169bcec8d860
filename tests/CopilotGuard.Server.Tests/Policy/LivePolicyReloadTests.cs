using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests.Policy;

/// <summary>The embedded default over its own data folder with the policy file watcher on (short debounce), so the
/// tests can change the policy files under it.</summary>
public sealed class ReloadServerFixture : StoreServerFixture
{
    public override string StoreName => "sqlite";

    public PolicyReloadStatus Status => Services.GetRequiredService<PolicyReloadStatus>();

    public DataFolder Data => Runtime.Data;

    protected override Task<string[]> StartProvidersAsync() => Task.FromResult<string[]>(["--CopilotGuard:PolicyReload:DebounceMilliseconds=100"]);

    public string PolicyPath => Path.Combine(Data.PoliciesPath, "contoso.yaml");

    /// <summary>Replaces a file in one step (written to a temporary file, then moved over it), as deployment tools do.</summary>
    public static void Replace(string path, string text)
    {
        var staging = Path.Combine(Path.GetTempPath(), "copilotguard-reload-" + Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllText(staging, text);
        File.Move(staging, path, overwrite: true);
    }

    /// <summary>Polls the reload status until a condition holds, failing after a generous deadline (no timing is asserted).</summary>
    public async Task<PolicyReloadState> WaitForAsync(Func<PolicyReloadState, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var state = Status.State;
            if (condition(state))
            {
                return state;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}; status: {state}");
            await Task.Delay(20);
        }
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string user, object? body = null, string? agent = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Runtime.Issuer.CreateToken(user, agent));
        return await Client.SendAsync(request);
    }
}

/// <summary>Issue 17: a changed policy file is validated and swapped in without a restart; an invalid one changes nothing
/// and is reported; every record carries the one policy version its request was decided with.</summary>
public sealed class LivePolicyReloadTests(ReloadServerFixture server) : IClassFixture<ReloadServerFixture>
{
    private const string Query = "how do I reset a POS terminal";

    private sealed record Observation(int Client, int Sequence, bool StartedAfterSwapObserved, string ReceiptId, string[] ChunkIds);

    private static string WithVersionAndDeny(string policy, string version, string source)
    {
        var text = policy.ReplaceLineEndings("\n");
        var versionLine = text.Split('\n').Single(static l => l.StartsWith("version:", StringComparison.Ordinal));
        return text
            .Replace(versionLine + "\n", $"version: \"{version}\"\n", StringComparison.Ordinal)
            .Replace("rules:\n", $"rules:\n  - id: no-{source}\n    effect: deny\n    when: resource.source == \"{source}\"\n", StringComparison.Ordinal);
    }

    private async Task<(string ReceiptId, string[] ChunkIds)> RetrieveAsync(string user, string? agent = null)
    {
        using var response = await server.SendAsync(HttpMethod.Post, "/v1/retrieve", user, new { query = Query, top = 10, destination = "internal" }, agent);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        return (json.RootElement.GetProperty("receiptId").GetString()!, [.. json.RootElement.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("id").GetString()!)]);
    }

    private async Task<AuditRecord> RecordAsync(string receiptId) =>
        (await server.Runtime.AuditLog.GetAsync(receiptId, CancellationToken.None))?.Record ?? throw new InvalidOperationException("No record " + receiptId);

    [Fact]
    public async Task ChangedPolicy_UnderConcurrentRetrievals_SwapsAtOneMoment_AndEveryRecordCarriesOneConsistentVersion()
    {
        var original = await File.ReadAllTextAsync(server.PolicyPath);
        var before = server.Status.State;
        var oldBundle = server.Runtime.Policy;
        Assert.Equal((before.CurrentVersion, before.CurrentHash), (oldBundle.Version, oldBundle.Sha256));
        var newVersion = "reload-" + Guid.NewGuid().ToString("N")[..8];
        var observations = new ConcurrentBag<Observation>();
        var counts = new int[4];
        var swapObserved = 0;
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, counts.Length).Select(client => Task.Run(async () =>
        {
            for (var sequence = 0; !stop.IsCancellationRequested; sequence++)
            {
                var afterSwap = Volatile.Read(ref swapObserved) == 1;
                var (receipt, chunks) = await RetrieveAsync("bob");
                observations.Add(new Observation(client, sequence, afterSwap, receipt, chunks));
                Interlocked.Increment(ref counts[client]);
            }
        })).ToList();

        try
        {
            await WaitForRequestsAsync(counts, 2, clients);
            ReloadServerFixture.Replace(server.PolicyPath, WithVersionAndDeny(original, newVersion, "kb"));
            var after = await server.WaitForAsync(s => s.CurrentVersion == newVersion, "the new policy version");
            Volatile.Write(ref swapObserved, 1);
            Assert.Null(after.LastError);
            Assert.NotEqual(before.CurrentHash, after.CurrentHash);
            var seen = counts.ToArray();
            await WaitForRequestsAsync(counts, seen.Max() + 3, clients);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(clients);
        }

        var newHash = server.Status.CurrentHash;
        var kbChunks = new HashSet<string>(StringComparer.Ordinal);
        var versions = new Dictionary<Observation, AuditRecord>();
        foreach (var observation in observations)
        {
            var record = await RecordAsync(observation.ReceiptId);
            versions[observation] = record;

            // One version per record, with its own hash: never the old version with the new hash or the reverse.
            Assert.True(
                (record.PolicyVersion, record.PolicyHash) == (before.CurrentVersion, before.CurrentHash) || (record.PolicyVersion, record.PolicyHash) == (newVersion, newHash),
                $"{record.RecordId}: {record.PolicyVersion} {record.PolicyHash}");
            Assert.Equal(observation.ChunkIds, record.Chunks.Select(static c => c.ChunkId));
            if (record.PolicyVersion == newVersion)
            {
                // Nothing released that the record's own policy denies.
                Assert.DoesNotContain(record.Chunks, static c => c.Source == "kb");
            }
            else
            {
                Assert.False(observation.StartedAfterSwapObserved, $"Request {observation.Sequence} of client {observation.Client} started after the swap was observed but was decided by the old policy.");
                kbChunks.UnionWith(record.Chunks.Where(static c => c.Source == "kb").Select(static c => c.ChunkId));
            }
        }

        // The change mattered: the old policy released knowledge-base chunks, the new one released others instead.
        Assert.NotEmpty(kbChunks);
        Assert.Contains(versions.Values, r => r.PolicyVersion == newVersion && r.Chunks.Length > 0);

        // Per client, in request order: the old version, then the new one, never back.
        foreach (var client in observations.GroupBy(static o => o.Client))
        {
            var sequence = client.OrderBy(static o => o.Sequence).Select(o => versions[o].PolicyVersion == newVersion).ToList();
            Assert.True(sequence.SkipWhile(static isNew => !isNew).All(static isNew => isNew), $"Client {client.Key} saw the old policy after the new one.");
            Assert.Contains(true, sequence);
        }

        ReloadServerFixture.Replace(server.PolicyPath, original);
        await server.WaitForAsync(s => s.CurrentVersion == before.CurrentVersion && s.CurrentHash == before.CurrentHash, "the original policy back");
    }

    private static async Task WaitForRequestsAsync(int[] counts, int atLeast, List<Task> clients)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (Enumerable.Range(0, counts.Length).Any(i => Volatile.Read(ref counts[i]) < atLeast))
        {
            if (clients.FirstOrDefault(static c => c.IsFaulted) is { } failed)
            {
                await failed;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {atLeast} requests per client ({string.Join(", ", counts)}).");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task InvalidPolicy_ChangesNothing_AndIsReported_UntilTheFileIsFixed()
    {
        var original = await File.ReadAllTextAsync(server.PolicyPath);
        var before = server.Status.State;
        var broken = original.ReplaceLineEndings("\n").Replace("rules:\n", "rules:\n  - id: broken\n    effect: deny\n    when: resource.source ==\n", StringComparison.Ordinal);
        Assert.NotEqual(original.ReplaceLineEndings("\n"), broken);

        ReloadServerFixture.Replace(server.PolicyPath, broken);
        var failed = await server.WaitForAsync(s => s.LastError is not null && s.LastAttempt != before.LastAttempt, "the refused reload");

        Assert.Equal((before.CurrentVersion, before.CurrentHash, before.Reloads), (failed.CurrentVersion, failed.CurrentHash, failed.Reloads));
        Assert.Contains("contoso.yaml", failed.LastError, StringComparison.Ordinal);
        Assert.False(server.Status.IsCurrent);
        Assert.Same(before.CurrentHash, server.Runtime.PolicyHolder.Current.Hash);

        // Still decided by the old policy.
        var (receipt, _) = await RetrieveAsync("bob");
        var record = await RecordAsync(receipt);
        Assert.Equal((before.CurrentVersion, before.CurrentHash), (record.PolicyVersion, record.PolicyHash));

        // Reported to security administrators (and to the readiness check, which reads the same status).
        using (var status = await server.SendAsync(HttpMethod.Get, "/v1/admin/policy/status", "sam"))
        {
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
            using var json = JsonDocument.Parse(await status.Content.ReadAsStringAsync());
            Assert.Contains("contoso.yaml", json.RootElement.GetProperty("lastError").GetString(), StringComparison.Ordinal);
            Assert.Equal(before.CurrentVersion, json.RootElement.GetProperty("currentVersion").GetString());
        }

        using (var manual = await server.SendAsync(HttpMethod.Post, "/v1/admin/policy/reload", "sam"))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, manual.StatusCode);
        }

        using (var ready = await server.Client.GetAsync("/healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = await ready.Content.ReadAsStringAsync();
            Assert.Contains("policy-reload", body, StringComparison.Ordinal);
            Assert.DoesNotContain("contoso.yaml", body, StringComparison.Ordinal);
        }

        ReloadServerFixture.Replace(server.PolicyPath, original);
        var fixedState = await server.WaitForAsync(static s => s.LastError is null, "the error to clear");
        Assert.Equal((before.CurrentVersion, before.CurrentHash), (fixedState.CurrentVersion, fixedState.CurrentHash));
        using (var ready = await server.Client.GetAsync("/healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
    }

    [Fact]
    public async Task ChangedTaxonomy_IsRefused_WithARestartMessage_AndTheOldPolicyStays()
    {
        var original = await File.ReadAllTextAsync(server.Data.LabelsPath);
        var before = server.Status.State;
        var changed = original.ReplaceLineEndings("\n").Replace(
            "  - name: Highly Confidential\n",
            "  - name: Restricted\n    displayName: Restricted\n    color: \"#6a1b9a\"\n  - name: Highly Confidential\n",
            StringComparison.Ordinal);
        Assert.NotEqual(original.ReplaceLineEndings("\n"), changed);

        ReloadServerFixture.Replace(server.Data.LabelsPath, changed);
        using (var manual = await server.SendAsync(HttpMethod.Post, "/v1/admin/policy/reload", "sam"))
        {
            var body = await manual.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.UnprocessableEntity, manual.StatusCode);
            Assert.Contains("restart", body, StringComparison.Ordinal);
        }

        Assert.Contains("restart", server.Status.LastError, StringComparison.Ordinal);
        Assert.Equal((before.CurrentVersion, before.CurrentHash), (server.Status.CurrentVersion, server.Status.CurrentHash));
        Assert.Equal("Highly Confidential", server.Runtime.PolicyHolder.Current.Labels.Highest.Name);
        Assert.DoesNotContain(server.Runtime.PolicyHolder.Current.Labels.Labels, static l => l.Name == "Restricted");

        ReloadServerFixture.Replace(server.Data.LabelsPath, original);
        using (var restored = await server.SendAsync(HttpMethod.Post, "/v1/admin/policy/reload", "sam"))
        {
            Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        }

        Assert.Null(server.Status.LastError);
    }

    [Fact]
    public async Task ChangedAgentRegistry_ManualReload_AppliesAtOnce_AndIsAudited()
    {
        var agentsPath = Path.Combine(server.Data.Root, "agents.yaml");
        var original = await File.ReadAllTextAsync(agentsPath);
        var before = server.Status.State;
        var (allowedReceipt, _) = await RetrieveAsync("bob", "ticket-agent");
        Assert.NotNull(await RecordAsync(allowedReceipt));

        var withoutAgents = "apiVersion: copilotguard/v1\nagents: []\n";
        ReloadServerFixture.Replace(agentsPath, withoutAgents);
        using (var manual = await server.SendAsync(HttpMethod.Post, "/v1/admin/policy/reload", "sam"))
        {
            var body = await manual.Content.ReadAsStringAsync();
            Assert.True(manual.StatusCode == HttpStatusCode.OK, body);
            using var json = JsonDocument.Parse(body);
            var outcome = json.RootElement.GetProperty("outcome").GetString();

            // The watcher may have applied the same change first; then the manual reload finds nothing new.
            Assert.True(outcome is "applied" or "unchanged", body);
        }

        var applied = server.Status.State;
        Assert.True(applied.Reloads > before.Reloads);
        using (var refused = await server.SendAsync(HttpMethod.Post, "/v1/retrieve", "bob", new { query = Query, top = 3, destination = "internal" }, "ticket-agent"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        // Audited: by sam, or by the watcher when it applied the change first.
        var record = await RecordAsync(applied.LastReceiptId!);
        Assert.Equal(AuditRecordKinds.PolicyReload, record.Kind);
        Assert.True(record.SubjectId is "sam" or PolicyReloader.WatcherSubject, record.SubjectId);
        Assert.Equal((before.CurrentVersion, before.CurrentHash), (record.PolicyVersion, record.PolicyHash));
        Assert.Contains($"previous-version:{before.CurrentVersion} previous-hash:{before.CurrentHash}", record.Target, StringComparison.Ordinal);

        // Only a security administrator may reload.
        using (var forbidden = await server.SendAsync(HttpMethod.Post, "/v1/admin/policy/reload", "bob"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        ReloadServerFixture.Replace(agentsPath, original);
        await server.WaitForAsync(state => server.Runtime.PolicyHolder.Current.Agents?.TryGet("ticket-agent", out _) == true, "the agent registry back");
        var (again, _) = await RetrieveAsync("bob", "ticket-agent");
        Assert.Equal(before.CurrentVersion, (await RecordAsync(again)).PolicyVersion);
    }
}
