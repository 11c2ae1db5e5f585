using Microsoft.Extensions.Options;

namespace TinyChat.Hosting;

/// <summary>The <c>Metrics</c> section: the Prometheus scrape endpoint <c>GET /metrics</c>.</summary>
public sealed class MetricsOptions
{
    /// <summary>Whether <c>/metrics</c> is served.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>0 (default): <c>/metrics</c> on the main listener (<c>Server:Port</c>); else its own port on <c>Server:Host</c>.</summary>
    public int Port { get; set; }
}

/// <summary>The <c>Telemetry</c> section: pushing the same metrics to an OpenTelemetry collector (OTLP).</summary>
public sealed class TelemetryOptions
{
    /// <summary>The collector, e.g. <c>http://localhost:4317</c> (gRPC) or <c>http://localhost:4318/v1/metrics</c> (HTTP); empty: no export.</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary><c>grpc</c> or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>Seconds between two exports.</summary>
    public double OtlpExportIntervalSeconds { get; set; } = 60;
}

/// <summary>Start-up checks of the <c>Metrics</c> and <c>Telemetry</c> sections.</summary>
public sealed class TelemetryOptionsValidation : IValidateOptions<MetricsOptions>, IValidateOptions<TelemetryOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, MetricsOptions options) =>
        options.Port is < 0 or > 65535
            ? ValidateOptionsResult.Fail($"Metrics:Port must be 0..65535 (0 = on the main listener), got {options.Port}")
            : ValidateOptionsResult.Success;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        if (options.OtlpEndpoint.Length > 0 && (!Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            return ValidateOptionsResult.Fail($"Telemetry:OtlpEndpoint must be an http:// or https:// URL, got '{options.OtlpEndpoint}'");
        }

        if (options.OtlpProtocol is not ("grpc" or "http/protobuf"))
        {
            return ValidateOptionsResult.Fail($"Telemetry:OtlpProtocol must be \"grpc\" or \"http/protobuf\", got \"{options.OtlpProtocol}\"");
        }

        return options.OtlpExportIntervalSeconds is > 0 and <= 86400
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Telemetry:OtlpExportIntervalSeconds must be a positive number of seconds, got {options.OtlpExportIntervalSeconds}");
    }
}
