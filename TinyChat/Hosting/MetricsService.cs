using System.Reflection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>
/// Exposes the <c>TinyChat</c> meter through the OpenTelemetry SDK: <c>GET /metrics</c> in the Prometheus text format
/// (the SDK's HttpListener exporter, sharing the main listener's port under the <c>/metrics</c> prefix, or on
/// <c>Metrics:Port</c>) and OTLP export when <c>Telemetry:OtlpEndpoint</c> is set. Starts after the HTTP server, so a
/// port 0 is known; a scrape aggregates what the instruments recorded, the chat path never waits for it.
/// </summary>
public sealed class MetricsService(
    IOptions<MetricsOptions> metricsOptions,
    IOptions<TelemetryOptions> telemetryOptions,
    IOptions<ServerOptions> serverOptions,
    ServerAddress address,
    ChatGauges gauges,
    ILogger<MetricsService> logger) : IHostedService
{
    private MeterProvider? provider;

    /// <summary>Where <c>/metrics</c> answers once started (null when off).</summary>
    public Uri? ScrapeUri { get; private set; }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = gauges;
        var metrics = metricsOptions.Value;
        var telemetry = telemetryOptions.Value;
        if (!metrics.Enabled && telemetry.OtlpEndpoint.Length == 0)
        {
            return Task.CompletedTask;
        }

        var version = typeof(MetricsService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        var builder = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.AddService("tinychat", serviceVersion: version))
            .AddMeter(ChatMetrics.MeterName)

            // The runtime's own instruments (GC heap and pauses, working set, thread pool): what a leak or a stall shows in first.
            .AddMeter("System.Runtime");
        if (metrics.Enabled)
        {
            var host = serverOptions.Value.Host is "*" or "+" or "0.0.0.0" ? "+" : serverOptions.Value.Host;
            var port = metrics.Port != 0 ? metrics.Port : address.BaseUri!.Port;
            builder.AddPrometheusHttpListener(o =>
            {
                o.Host = host;
                o.Port = port;
                o.ScrapeEndpointPath = "/metrics";

                // Every scrape reads the instruments afresh (scrapes come every few seconds, not in storms).
                o.ScrapeResponseCacheDurationMilliseconds = 0;
                o.ConfigureHttpListener = (_, listener) =>
                {
                    if (host == "localhost")
                    {
                        // As the main listener does: clients send Host: 127.0.0.1 as often as localhost.
                        listener.Prefixes.Add($"http://127.0.0.1:{port}/metrics/");
                    }
                };
            });
            ScrapeUri = new Uri($"http://{(host == "+" ? "localhost" : host)}:{port}/metrics");
        }

        if (telemetry.OtlpEndpoint.Length > 0)
        {
            builder.AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = new Uri(telemetry.OtlpEndpoint);
                exporter.Protocol = telemetry.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)(telemetry.OtlpExportIntervalSeconds * 1000);
            });
        }

        try
        {
            provider = builder.Build();
        }
        catch (System.Net.HttpListenerException ex)
        {
            throw new StartupException($"cannot serve /metrics on port {metrics.Port} (Metrics:Port): {ex.Message}");
        }

        if (ScrapeUri is not null)
        {
            logger.LogInformation("Metrics at {ScrapeUri}", ScrapeUri);
        }

        if (telemetry.OtlpEndpoint.Length > 0)
        {
            logger.LogInformation("Exporting metrics over OTLP ({Protocol}) to {Endpoint} every {Seconds} s", telemetry.OtlpProtocol, telemetry.OtlpEndpoint, telemetry.OtlpExportIntervalSeconds);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Flushes a last OTLP export and releases the /metrics prefix before the main listener closes.
        provider?.Dispose();
        provider = null;
        return Task.CompletedTask;
    }
}
