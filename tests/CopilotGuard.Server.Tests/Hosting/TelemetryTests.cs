using System.Collections.Concurrent;
using System.Net;
using System.Text;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>An OTLP/HTTP receiver on a free loopback port: keeps the body of every POST to <c>/v1/traces</c> and
/// <c>/v1/metrics</c> and answers 200 with an empty (valid) protobuf response.</summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app) => _app = app;

    public ConcurrentQueue<(string Signal, byte[] Body)> Exports { get; } = new();

    public string Address { get; private set; } = null!;

    public static async Task<OtlpReceiver> StartAsync()
    {
        OtlpReceiver? receiver = null;
        var (_, address) = await LoopbackApp.StartAsync(app =>
        {
            var created = receiver = new OtlpReceiver(app);
            app.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
            {
                using var body = new MemoryStream();
                await request.Body.CopyToAsync(body);
                created.Exports.Enqueue((signal, body.ToArray()));
                return Results.Bytes([], "application/x-protobuf");
            });
        });
        receiver!.Address = address;
        return receiver;
    }

    /// <summary>Whether an export of a signal contains every string (UTF-8, as protobuf carries names and attribute values).</summary>
    public bool Received(string signal, params string[] texts) =>
        Exports.Any(e => e.Signal == signal && texts.All(t => e.Body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(t)) >= 0));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A server whose telemetry goes to an in-test OTLP receiver, over the given OTLP settings.</summary>
public abstract class OtlpServerFixture : StoreServerFixture
{
    public OtlpReceiver Receiver { get; private set; } = null!;

    public override string StoreName => "sqlite";

    /// <summary>Flushes the server's tracer and meter providers (exports what they hold when an exporter is registered).</summary>
    public void Flush()
    {
        Assert.True(Services.GetRequiredService<TracerProvider>().ForceFlush(30_000));
        Assert.True(Services.GetRequiredService<MeterProvider>().ForceFlush(30_000));
    }

    protected abstract string[] Settings(string receiver);

    protected override async Task<string[]> StartProvidersAsync()
    {
        Receiver = await OtlpReceiver.StartAsync();
        return ["--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "--OTEL_SERVICE_NAME=" + TelemetryTests.ServiceName, .. Settings(Receiver.Address)];
    }

    protected override async Task StopProvidersAsync() => await Receiver.DisposeAsync();
}

/// <summary>The standard endpoint setting is present: the exporter is on.</summary>
public sealed class ExportingServerFixture : OtlpServerFixture
{
    protected override string[] Settings(string receiver) => ["--" + CopilotGuardTelemetry.EndpointSetting + "=" + receiver];
}

/// <summary>No <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, but per-signal endpoints that an exporter, had one been registered,
/// would send to the receiver.</summary>
public sealed class SilentServerFixture : OtlpServerFixture
{
    protected override string[] Settings(string receiver) =>
        ["--OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + receiver + "/v1/traces", "--OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=" + receiver + "/v1/metrics"];
}

/// <summary>Issue 17, telemetry: with an OTLP endpoint configured a retrieval's span (<c>retrieval sqlite</c> from the
/// <c>CopilotGuard</c> source) and the <c>CopilotGuard</c> metrics reach the collector under the configured service name.</summary>
public sealed class TelemetryTests(ExportingServerFixture server) : IClassFixture<ExportingServerFixture>
{
    public const string ServiceName = "copilotguard-otlp-test";

    [Fact]
    public async Task Retrieval_WithEndpoint_ExportsSpanAndMetricsWithServiceName()
    {
        using (var response = await server.PostRetrieveAsync(server.Token("carol"), new { query = "brand guidelines", destination = "internal" }))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Flushing exports synchronously; the bounded loop only covers exports a batch was already sending when it ran.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            server.Flush();
            if (server.Receiver.Received("traces", "retrieval sqlite", ServiceName) && server.Receiver.Received("metrics", "copilotguard.retrievals", ServiceName))
            {
                break;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.True(server.Receiver.Received("traces", "retrieval sqlite", ServiceName), $"No trace export with the retrieval span; exports: {Describe()}");
        Assert.True(server.Receiver.Received("metrics", "copilotguard.retrievals", ServiceName), $"No metrics export with the retrieval counter; exports: {Describe()}");
    }

    private string Describe() => string.Join(", ", server.Receiver.Exports.Select(static e => $"{e.Signal} ({e.Body.Length} bytes)"));
}

/// <summary>Issue 17, telemetry: without <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> no exporter is registered, so nothing is sent
/// even where per-signal endpoints name a receiver; the providers still run.</summary>
public sealed class TelemetryWithoutEndpointTests(SilentServerFixture server) : IClassFixture<SilentServerFixture>
{
    [Fact]
    public async Task Retrieval_WithoutEndpoint_SendsNothing()
    {
        using (var response = await server.PostRetrieveAsync(server.Token("carol"), new { query = "brand guidelines", destination = "internal" }))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // A registered exporter sends during the flush itself, so an empty receiver afterwards means none was registered.
        server.Flush();
        Assert.Empty(server.Receiver.Exports);
    }
}
