using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace CopilotGuard.Cli;

/// <summary>The <c>bench</c> verbs: a load test of the real server on loopback.</summary>
internal static class BenchCommands
{
    private const int MaxDurationSeconds = 3600;
    private const int MaxConcurrency = 1024;
    private const int MaxTimedReceipts = 20_000;
    private const int QueryCacheSize = 100_000;

    /// <summary>The caller and query mix: the sample people on their own data, some for external models, and the ticket agent for bob.</summary>
    private static readonly LoadCall[] Mix =
    [
        new("carol", null, "What is the launch plan for the spring campaign?", null, "internal"),
        new("carol", null, "How do I reset my password?", null, null),
        new("bob", null, "End-of-day sync discrepancy at the Portland store", "support", "internal"),
        new("bob", null, "Duplicate line items on the monthly invoice", "support", "internal"),
        new("bob", null, "How do I rotate an API key?", null, null),
        new("alice", null, "What are the salary band guidelines?", "hr-case", "internal"),
        new("alice", null, "Parental leave policy", null, "internal"),
        new("dana", null, "Follow-up notes for my patients this month", "treatment", "internal"),
        new("erin", null, "Flagged card transactions at Contoso Retail stores", "fraud-review", "internal"),
        new("paul", null, "Annual base salary of the support team", "payroll", "internal"),
        new("bob", "ticket-agent", "How do I set up the VPN on a new laptop?", "ticket-resolution", "internal"),
        new("bob", "ticket-agent", "Steps to reset a POS terminal", "customer-support", "internal"),
    ];

    public static Command Build(Option<string> data, Option<bool> json)
    {
        var bench = new Command("bench", "Measure CopilotGuard's performance.");
        bench.Subcommands.Add(Load(data, json));
        return bench;
    }

    private static Command Load(Option<string> data, Option<bool> json)
    {
        var duration = new Option<double>("--duration") { Description = $"How long to drive load, in seconds (1 to {MaxDurationSeconds}).", Required = true };
        var concurrency = new Option<int>("--concurrency") { Description = $"How many callers send requests at once (1 to {MaxConcurrency}).", DefaultValueFactory = _ => 32 };
        var warmup = new Option<double>("--warmup") { Description = "Seconds of load before measuring (0 to 60).", DefaultValueFactory = _ => 3 };
        var top = new Option<int>("--top") { Description = "Chunks asked for per request.", DefaultValueFactory = _ => 5 };
        var noCache = new Option<bool>("--no-embedding-cache") { Description = "Embed every query (CopilotGuard:Embeddings:QueryCacheSize=0); without it, up to 100,000 query embeddings are cached by query text." };
        var baseline = new Option<bool>("--baseline") { Description = "Afterwards, drive GET /healthz the same way for 5 s: the ceiling of HTTP and the load generator on this machine." };
        var command = new Command("load", "Start the server on a loopback port and drive POST /v1/retrieve with a mix of sample people and queries for a fixed time.")
        {
            duration, concurrency, warmup, top, noCache, baseline,
        };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            var settings = new LoadSettings(
                parse.GetValue(duration),
                parse.GetValue(concurrency),
                parse.GetValue(warmup),
                parse.GetValue(top),
                !parse.GetValue(noCache),
                parse.GetValue(baseline));
            if (settings.Validate() is { } problem)
            {
                await Console.Error.WriteLineAsync($"copilotguard: {problem}").ConfigureAwait(false);
                return 2;
            }

            var report = await RunAsync(new DataFolder(parse.GetValue(data)!), settings, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, CliApp.Json));
            }
            else
            {
                Print(report);
            }

            return report.Errors == 0 ? 0 : 1;
        }).ConfigureAwait(false));
        return command;
    }

    private static async Task<LoadReport> RunAsync(DataFolder folder, LoadSettings settings, bool quiet, CancellationToken cancellationToken)
    {
        if (!quiet && CliApp.NeedsSeeding(folder))
        {
            AnsiConsole.MarkupLine($"First start: seeding [bold]{Markup.Escape(folder.Root)}[/] with the sample corpus (embedding takes a while).");
        }

        TimingAuditLog? audit = null;
        string[] arguments =
        [
            "--data", folder.Root, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning",
            "--CopilotGuard:Identity:AllowDevelopmentIssuer=true", "--CopilotGuard:Anomaly:Enabled=false", "--CopilotGuard:RateLimits:Enabled=false",
            $"--CopilotGuard:Embeddings:QueryCacheSize={(settings.EmbeddingCache ? QueryCacheSize : 0)}",
        ];
        // The server's own wiring (store, audit and embedder as configured), with the broker's audit appends timed.
        var app = await CopilotGuardServer.BuildAsync(
            arguments,
            new CopilotGuardServerOptions { DecorateBrokerAudit = inner => audit = new TimingAuditLog(inner) },
            cancellationToken).ConfigureAwait(false);
        await using (app.ConfigureAwait(false))
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var address = new Uri(app.Urls.First());
                if (!address.IsLoopback)
                {
                    throw new InvalidOperationException($"The load test only drives a loopback server, not {address}.");
                }

                var runtime = app.Services.GetRequiredService<CopilotGuardRuntime>();
                var cache = runtime.QueryEmbedder.GetService<CachingQueryEmbeddingGenerator>();
                var calls = Mix.Select(call => call with { Token = runtime.Issuer.CreateToken(call.User, call.Agent, TimeSpan.FromHours(2)) }).ToArray();
                using var handler = new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = settings.Concurrency, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
                using var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };

                // Every call once, in order: fails fast on a broken mix, fills the embedding cache as a steady state would.
                foreach (var (call, index) in calls.Select(static (c, i) => (c, i)))
                {
                    var sample = await SendAsync(client, call, index, settings.Top, cancellationToken).ConfigureAwait(false);
                    if (sample.Status != 200)
                    {
                        throw new InvalidOperationException($"Warm-up request as {call.User}{(call.Agent is null ? string.Empty : " via " + call.Agent)} failed with HTTP {sample.Status}.");
                    }
                }

                if (settings.WarmupSeconds > 0)
                {
                    _ = await DriveAsync(client, calls, settings, TimeSpan.FromSeconds(settings.WarmupSeconds), cancellationToken).ConfigureAwait(false);
                }

                var hitsBefore = cache?.Hits ?? 0;
                var missesBefore = cache?.Misses ?? 0;
                var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                var gen2Before = GC.CollectionCount(2);
                var clock = Stopwatch.StartNew();
                var samples = await DriveAsync(client, calls, settings, TimeSpan.FromSeconds(settings.DurationSeconds), cancellationToken).ConfigureAwait(false);
                clock.Stop();
                var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
                var gen2 = GC.CollectionCount(2) - gen2Before;
                var timed = await ReadTimingsAsync(runtime.Audit, audit!, samples, cancellationToken).ConfigureAwait(false);
                var report = LoadReport.Create(settings, samples, timed, clock.Elapsed, allocated, gen2, cache is null ? null : (cache.Hits - hitsBefore, cache.Misses - missesBefore));
                return settings.Baseline ? report with { HealthzRequestsPerSecond = await BaselineAsync(client, settings.Concurrency, cancellationToken).ConfigureAwait(false) } : report;
            }
            finally
            {
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private static async Task<List<LoadSample>> DriveAsync(HttpClient client, LoadCall[] calls, LoadSettings settings, TimeSpan duration, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = Enumerable.Range(0, settings.Concurrency).Select(worker => Task.Run(
            async () =>
            {
                var samples = new List<LoadSample>(1024);
                for (var i = worker; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; i += settings.Concurrency)
                {
                    var index = i % calls.Length;
                    samples.Add(await SendAsync(client, calls[index], index, settings.Top, cancellationToken).ConfigureAwait(false));
                }

                return samples;
            },
            cancellationToken));
        return [.. (await Task.WhenAll(workers).ConfigureAwait(false)).SelectMany(static s => s)];
    }

    /// <summary>Drives the anonymous liveness route for 5 s: what HTTP and the load generator alone reach.</summary>
    private static async Task<double> BaselineAsync(HttpClient client, int concurrency, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var deadline = Stopwatch.GetTimestamp() + 5 * Stopwatch.Frequency;
        var counts = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(
            async () =>
            {
                var count = 0;
                while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
                {
                    using var response = await client.GetAsync(new Uri("/healthz", UriKind.Relative), cancellationToken).ConfigureAwait(false);
                    _ = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                    count++;
                }

                return count;
            },
            cancellationToken))).ConfigureAwait(false);
        return counts.Sum() / clock.Elapsed.TotalSeconds;
    }

    private static async Task<LoadSample> SendAsync(HttpClient client, LoadCall call, int index, int top, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["query"] = call.Query,
            ["top"] = top,
            ["purpose"] = call.Purpose,
            ["destination"] = call.Destination,
        }.Where(static pair => pair.Value is not null).ToDictionary());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", call.Token);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var payload = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            string? receipt = null;
            if (response.StatusCode == HttpStatusCode.OK)
            {
                using var document = JsonDocument.Parse(payload);
                receipt = document.RootElement.GetProperty("receiptId").GetString();
            }

            return new LoadSample(index, (int)response.StatusCode, elapsed, receipt);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
        {
            return new LoadSample(index, 0, Stopwatch.GetElapsedTime(started).TotalMilliseconds, null);
        }
    }

    /// <summary>Reads the per-stage timings from the audit records of (an even sample of) the successful requests.</summary>
    private static async Task<List<TimedSample>> ReadTimingsAsync(IAuditLog audit, TimingAuditLog appends, List<LoadSample> samples, CancellationToken cancellationToken)
    {
        var ok = samples.Where(static s => s.ReceiptId is not null).ToList();
        var step = Math.Max(1, (ok.Count + MaxTimedReceipts - 1) / MaxTimedReceipts);
        var timed = new List<TimedSample>(Math.Min(ok.Count, MaxTimedReceipts));
        for (var i = 0; i < ok.Count; i += step)
        {
            if (await audit.GetAsync(ok[i].ReceiptId!, cancellationToken).ConfigureAwait(false) is { Record.Timings: { } timings }
                && appends.TryGetMilliseconds(ok[i].ReceiptId!, out var append))
            {
                timed.Add(new TimedSample(ok[i], timings, append));
            }
        }

        return timed;
    }

    private static void Print(LoadReport report)
    {
        AnsiConsole.MarkupLine($"[bold]{report.Requests:N0}[/] requests in {report.DurationSeconds:F1} s from {report.Concurrency} callers, embedding cache {(report.EmbeddingCache ? "on" : "off")}: [bold]{report.RequestsPerSecond:F0} requests/s[/], {report.Errors} error(s).");
        var table = new Table().AddColumns("", "p50 ms", "p95 ms", "p99 ms");
        table.AddRow("request (client, loopback HTTP)", F(report.P50Ms), F(report.P95Ms), F(report.P99Ms));
        table.AddRow("broker share (all but embedding and store)", F(report.BrokerP50Ms), F(report.BrokerP95Ms), F(report.BrokerP99Ms));
        foreach (var (stage, p) in report.Stages)
        {
            table.AddRow("  stage: " + stage, F(p.P50), F(p.P95), F(p.P99));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Allocated {report.AllocatedBytesPerRequest / 1024.0:F1} KB per request (server and load generator, same process); {report.Gen2Collections} gen-2 collections. Stage timings from {report.TimedRequests:N0} audit receipts.");
        if (report.HealthzRequestsPerSecond is { } healthz)
        {
            AnsiConsole.MarkupLine($"Baseline: GET /healthz with the same callers reached {healthz:F0} requests/s (HTTP and load generator alone).");
        }

        if (report.CacheHits is not null)
        {
            AnsiConsole.MarkupLine($"Embedding cache: {report.CacheHits:N0} hits, {report.CacheMisses:N0} misses.");
        }

        foreach (var (status, count) in report.ErrorsByStatus)
        {
            AnsiConsole.MarkupLine($"[red]{count} request(s) failed with {(status == 0 ? "a transport error" : "HTTP " + status.ToString(CultureInfo.InvariantCulture))}[/]");
        }

        static string F(double value) => value.ToString("F2", CultureInfo.InvariantCulture);
    }

    private sealed record LoadCall(string User, string? Agent, string Query, string? Purpose, string? Destination)
    {
        public string Token { get; init; } = string.Empty;
    }

    private readonly record struct LoadSample(int Call, int Status, double Milliseconds, string? ReceiptId);

    private readonly record struct TimedSample(LoadSample Sample, StageTimings Timings, double AuditAppend);

    private sealed record LoadSettings(double DurationSeconds, int Concurrency, double WarmupSeconds, int Top, bool EmbeddingCache, bool Baseline)
    {
        public string? Validate() =>
            DurationSeconds is < 1 or > MaxDurationSeconds ? $"--duration must be between 1 and {MaxDurationSeconds} seconds."
            : Concurrency is < 1 or > MaxConcurrency ? $"--concurrency must be between 1 and {MaxConcurrency}."
            : WarmupSeconds is < 0 or > 60 ? "--warmup must be between 0 and 60 seconds."
            : Top is < 1 or > 50 ? "--top must be between 1 and 50."
            : null;
    }

    /// <summary>Latency percentiles of one measure, in milliseconds.</summary>
    private sealed record Percentiles(double P50, double P95, double P99);

    /// <summary>The load test's result; serialized as the <c>--json</c> output.</summary>
    private sealed record LoadReport
    {
        public required double DurationSeconds { get; init; }

        public required int Concurrency { get; init; }

        public required bool EmbeddingCache { get; init; }

        public required long Requests { get; init; }

        public required double RequestsPerSecond { get; init; }

        public required long Errors { get; init; }

        public required IReadOnlyDictionary<int, int> ErrorsByStatus { get; init; }

        public required double P50Ms { get; init; }

        public required double P95Ms { get; init; }

        public required double P99Ms { get; init; }

        public required double BrokerP50Ms { get; init; }

        public required double BrokerP95Ms { get; init; }

        public required double BrokerP99Ms { get; init; }

        public required IReadOnlyDictionary<string, Percentiles> Stages { get; init; }

        public required int TimedRequests { get; init; }

        public required double AllocatedBytesPerRequest { get; init; }

        public required int Gen2Collections { get; init; }

        public double? HealthzRequestsPerSecond { get; init; }

        public long? CacheHits { get; init; }

        public long? CacheMisses { get; init; }

        public static LoadReport Create(LoadSettings settings, List<LoadSample> samples, List<TimedSample> timed, TimeSpan elapsed, long allocated, int gen2, (long Hits, long Misses)? cache)
        {
            var ok = samples.Where(static s => s.Status == 200).Select(static s => s.Milliseconds).Order().ToArray();
            Percentiles Of(Func<TimedSample, double> measure)
            {
                var values = timed.Select(measure).Order().ToArray();
                return new Percentiles(Percentile(values, 0.50), Percentile(values, 0.95), Percentile(values, 0.99));
            }

            var broker = Of(static t => t.Sample.Milliseconds - t.Timings.Embedding - t.Timings.Store);
            var errors = samples.Where(static s => s.Status != 200).GroupBy(static s => s.Status).ToDictionary(static g => g.Key, static g => g.Count());
            return new LoadReport
            {
                DurationSeconds = elapsed.TotalSeconds,
                Concurrency = settings.Concurrency,
                EmbeddingCache = settings.EmbeddingCache,
                Requests = samples.Count,
                RequestsPerSecond = samples.Count / elapsed.TotalSeconds,
                Errors = samples.Count - ok.Length,
                ErrorsByStatus = errors,
                P50Ms = Percentile(ok, 0.50),
                P95Ms = Percentile(ok, 0.95),
                P99Ms = Percentile(ok, 0.99),
                BrokerP50Ms = broker.P50,
                BrokerP95Ms = broker.P95,
                BrokerP99Ms = broker.P99,
                Stages = new Dictionary<string, Percentiles>(StringComparer.Ordinal)
                {
                    ["entitlements"] = Of(static t => t.Timings.Entitlements),
                    ["policy"] = Of(static t => t.Timings.Policy),
                    ["embedding"] = Of(static t => t.Timings.Embedding),
                    ["store"] = Of(static t => t.Timings.Store),
                    ["postFilterAndRelease"] = Of(static t => t.Timings.PostFilter),
                    ["auditAppend"] = Of(static t => t.AuditAppend),
                    ["httpAndRest"] = Of(static t => t.Sample.Milliseconds - t.Timings.Entitlements - t.Timings.Policy - t.Timings.Embedding - t.Timings.Store - t.Timings.PostFilter - t.AuditAppend),
                },
                TimedRequests = timed.Count,
                AllocatedBytesPerRequest = samples.Count == 0 ? 0 : allocated / (double)samples.Count,
                Gen2Collections = gen2,
                CacheHits = cache?.Hits,
                CacheMisses = cache?.Misses,
            };
        }

        private static double Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>Times each audit append (by record id), to tell the durable-audit wait apart from HTTP and queueing.</summary>
internal sealed class TimingAuditLog(IAuditLog inner) : IAuditLog
{
    private readonly ConcurrentDictionary<string, double> _appends = new(StringComparer.Ordinal);

    /// <summary>Gets how long the append of a record took, in milliseconds.</summary>
    public bool TryGetMilliseconds(string recordId, out double milliseconds) => _appends.TryGetValue(recordId, out milliseconds);

    /// <inheritdoc />
    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    /// <inheritdoc />
    public async Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var started = Stopwatch.GetTimestamp();
        var entry = await inner.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        if (_appends.Count < 1_000_000)
        {
            _appends[record.RecordId] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        return entry;
    }

    /// <inheritdoc />
    public Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken) => inner.GetAsync(recordId, cancellationToken);

    /// <inheritdoc />
    public Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken) => inner.VerifyAsync(cancellationToken);
}
