using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Server.Tests.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CopilotGuard.Server.Tests.Hardening;

/// <summary>How the loopback Graph misbehaves.</summary>
public enum GraphFault
{
    None,
    Status500,
    Status503,
    DropConnection,
    TruncatedBody,
    Hang,
}

/// <summary>The server with Microsoft Graph as the authoritative entitlement source for <c>bob</c> (never for
/// <c>carol</c>), reached over real loopback HTTP (a Kestrel app answering as Graph documents it, or failing on demand),
/// no entitlement cache reuse, a 2-second Graph timeout, no throttling retries, and its logs captured.</summary>
public sealed class FaultServerFixture : StoreServerFixture
{
    private WebApplication? _graph;
    private Uri _graphAddress = null!;

    public override string StoreName => "sqlite";

    /// <summary>Gets or sets how Graph answers the transitive-membership call (the second Graph call of a lookup).</summary>
    public GraphFault Fault { get; set; }

    /// <summary>Completes when Graph has received a call it will fail; reset with <see cref="ArmFault"/>.</summary>
    public TaskCompletionSource Faulted { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Logs { get; } = new();

    protected override CopilotGuardServerOptions ServerOptions => new()
    {
        Configure = builder =>
        {
            builder.Services.AddSingleton(new GraphTransportOverride(new ToLoopback(_graphAddress), new GraphServerFixture.StaticToken()));
            builder.Logging.AddProvider(new CapturingLoggerProvider(Logs));
        },
    };

    public void ArmFault(GraphFault fault)
    {
        Faulted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Fault = fault;
    }

    protected override async Task<string[]> StartProvidersAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _graph = builder.Build();
        ((IApplicationBuilder)_graph).Run(AnswerAsGraphAsync);
        await _graph.StartAsync();
        _graphAddress = new Uri(_graph.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
        return
        [
            "--CopilotGuard:Graph:Enabled=true",
            "--CopilotGuard:Graph:PrincipalIdPattern=^bob$",
            "--CopilotGuard:Graph:Timeout=00:00:02",
            "--CopilotGuard:Graph:Provider:MaxThrottleRetries=0",
            "--CopilotGuard:EntitlementCache:TimeToLive=00:00:00",
            "--CopilotGuard:EntitlementCache:MaxStaleness=00:00:00",
        ];
    }

    protected override async Task StopProvidersAsync()
    {
        if (_graph is not null)
        {
            await _graph.StopAsync();
            await _graph.DisposeAsync();
        }
    }

    private async Task AnswerAsGraphAsync(HttpContext context)
    {
        var groups = context.Request.Path.Value!.EndsWith("/transitiveMemberOf", StringComparison.Ordinal);
        var body = groups
            ? """{"value":[{"@odata.type":"#microsoft.graph.group","id":"g-support","displayName":"support"}]}"""
            : """{"id":"bob","displayName":"Bob Martinez","accountEnabled":true,"department":"Support","jobTitle":"Senior Support Engineer","country":"US","employeeType":"Employee"}""";
        var fault = groups ? Fault : GraphFault.None;
        if (fault != GraphFault.None)
        {
            Faulted.TrySetResult();
        }

        switch (fault)
        {
            case GraphFault.Status500 or GraphFault.Status503:
                context.Response.StatusCode = fault == GraphFault.Status500 ? StatusCodes.Status500InternalServerError : StatusCodes.Status503ServiceUnavailable;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("""{"error":{"code":"serviceNotAvailable","message":"x"}}""");
                return;
            case GraphFault.DropConnection:
                context.Abort();
                return;
            case GraphFault.TruncatedBody:
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = Encoding.UTF8.GetByteCount(body);
                await context.Response.WriteAsync(body[..(body.Length / 2)]);
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            case GraphFault.Hang:
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The caller gave up (its Graph timeout).
                }

                return;
            default:
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(body);
                return;
        }
    }

    /// <summary>The last hop of the Graph SDK pipeline: sends each request (to graph.microsoft.com) to the loopback Graph instead.</summary>
    private sealed class ToLoopback(Uri graph) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.RequestUri = new Uri(graph, request.RequestUri!.PathAndQuery);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class CapturingLoggerProvider(ConcurrentQueue<(string Category, LogLevel Level, string Message)> logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Capturing(categoryName, logs);

        public void Dispose()
        {
        }

        private sealed class Capturing(string category, ConcurrentQueue<(string, LogLevel, string)> logs) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logs.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}

/// <summary>Issue 16, faults: Microsoft Graph fails in the middle of a retrieval (its user call answered, its group call
/// failing, dropped, cut short or never answered), and the audit log fails for the refusal record itself. Each time the
/// caller gets a refusal with no data, and the server keeps answering other callers.</summary>
public sealed class MidRequestFaultTests(FaultServerFixture server) : IClassFixture<FaultServerFixture>
{
    [Theory]
    [InlineData(GraphFault.Status500)]
    [InlineData(GraphFault.Status503)]
    [InlineData(GraphFault.DropConnection)]
    [InlineData(GraphFault.TruncatedBody)]
    [InlineData(GraphFault.Hang)]
    public async Task GraphFailsMidRequest_Is503_NoChunk_OneRefusalWithReason_OtherCallersServed(GraphFault fault)
    {
        var query = new { query = "POS terminal outage", top = 5, destination = "internal" };
        server.ArmFault(GraphFault.None);
        using (var healthy = await server.PostRetrieveAsync(server.Token("bob"), query))
        {
            Assert.True(healthy.StatusCode == HttpStatusCode.OK, await healthy.Content.ReadAsStringAsync());
        }

        var audit = new AuditProbe(server);
        var mark = await audit.MarkAsync();
        server.ArmFault(fault);
        try
        {
            var bob = server.PostRetrieveAsync(server.Token("bob"), query);

            // Graph is failing (or still holding bob's lookup): carol, whom Graph is not asked about, is served meanwhile.
            await server.Faulted.Task.WaitAsync(TimeSpan.FromSeconds(30));
            using (var carol = await server.PostRetrieveAsync(server.Token("carol"), query))
            {
                Assert.Equal(HttpStatusCode.OK, carol.StatusCode);
            }

            using var response = await bob;
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("no data was released", text, StringComparison.OrdinalIgnoreCase);
            Assert.False(JsonDocument.Parse(text).RootElement.TryGetProperty("chunks", out _));

            var records = await audit.SinceAsync(mark);
            var refused = Assert.Single(records, r => r.Record.SubjectId == "bob").Record;
            Assert.Equal(("refused", "unavailable"), (refused.Kind, refused.Decision));
            Assert.Contains("status:503 reason:Entitlements for 'bob' could not be resolved", refused.Target, StringComparison.Ordinal);
            Assert.Empty(refused.Chunks);
            Assert.Contains(records, r => r.Record.SubjectId == "carol" && r.Record.Kind == "retrieval");
        }
        finally
        {
            server.ArmFault(GraphFault.None);
        }

        using var again = await server.PostRetrieveAsync(server.Token("bob"), query);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task AuditLogFailsForTheRefusalToo_CallerStillGets503WithNoData_FailureLoggedAndCounted()
    {
        var query = new { query = "brand guidelines", destination = "internal" };
        var failures = new ConcurrentQueue<(long Value, string? Operation)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == "CopilotGuard" && instrument.Name == "copilotguard.audit.refusal_record_failures")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? operation = null;
            foreach (var tag in tags)
            {
                operation = tag.Key == "operation" ? tag.Value as string : operation;
            }

            failures.Enqueue((value, operation));
        });
        listener.Start();

        // The log's table disappears (a broken or half-restored database): neither the retrieval's record nor the refusal
        // record can be written.
        await RenameAsync("audit_log", "audit_log_gone");
        try
        {
            using var response = await server.PostRetrieveAsync(server.Token("carol"), query);
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.False(JsonDocument.Parse(text).RootElement.TryGetProperty("chunks", out _));
            Assert.DoesNotContain("no such table", text, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            await RenameAsync("audit_log_gone", "audit_log");
        }

        Assert.Contains(server.Logs, l => l.Level == LogLevel.Error && l.Category.EndsWith(".RefusalAudit", StringComparison.Ordinal)
            && l.Message.Contains("The refusal record of Retrieve (503: The audit record", StringComparison.Ordinal));
        Assert.Contains(failures, f => f is { Value: 1, Operation: "Retrieve" });

        using var healthy = await server.PostRetrieveAsync(server.Token("carol"), query);
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
    }

    private async Task RenameAsync(string from, string to)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(server.DataPath, "audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = 30000; ALTER TABLE {from} RENAME TO {to};";
        await command.ExecuteNonQueryAsync();
    }
}
