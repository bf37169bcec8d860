using System.Reflection;
using CopilotGuard.Retrieval;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CopilotGuard.Hosting;

/// <summary>OpenTelemetry tracing and metrics for the server: the retrieval spans and metrics of
/// <see cref="RetrievalTelemetry"/>, ASP.NET Core, outgoing HTTP (OIDC metadata, Graph, embeddings) and Npgsql, exported
/// over OTLP only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.</summary>
/// <remarks>Settings are the standard OpenTelemetry ones, read from configuration (environment variables included):
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> turns the exporter on, <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> (<c>grpc</c> or
/// <c>http/protobuf</c>), <c>OTEL_EXPORTER_OTLP_HEADERS</c> and the rest are honoured by the exporter, and
/// <c>OTEL_SERVICE_NAME</c> names the service (<see cref="DefaultServiceName"/> otherwise). Without an endpoint the
/// providers still run (so in-process listeners work) but nothing leaves the process.</remarks>
public static class CopilotGuardTelemetry
{
    /// <summary>The service name when <c>OTEL_SERVICE_NAME</c> is not set.</summary>
    public const string DefaultServiceName = "copilotguard";

    /// <summary>The setting whose presence turns the OTLP exporter on.</summary>
    public const string EndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The setting that names the service.</summary>
    public const string ServiceNameSetting = "OTEL_SERVICE_NAME";

    /// <summary>Registers the tracer and meter providers, with the OTLP exporter when <see cref="EndpointSetting"/> is set.</summary>
    public static IServiceCollection AddCopilotGuardTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var serviceName = configuration[ServiceNameSetting] is { Length: > 0 } name ? name : DefaultServiceName;
        var export = !string.IsNullOrWhiteSpace(configuration[EndpointSetting]);
        var version = typeof(CopilotGuardTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName, serviceVersion: version))
            .WithTracing(tracing =>
            {
                tracing.AddSource(RetrievalTelemetry.Name)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddNpgsql();
                if (export)
                {
                    tracing.AddOtlpExporter();
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(RetrievalTelemetry.Name)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddNpgsqlInstrumentation();
                if (export)
                {
                    metrics.AddOtlpExporter();
                }
            });
        return services;
    }
}
