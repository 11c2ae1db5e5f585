using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TinyChat.Hosting;

/// <summary>Composition of metrics: options, the gauges over the core's state, and <see cref="MetricsService"/>.</summary>
public static class TelemetryComposition
{
    /// <summary>Registers metrics; call after the HTTP server so the scrape endpoint starts once the port is known.</summary>
    public static IServiceCollection AddTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<TelemetryOptionsValidation>();
        services.AddOptions<MetricsOptions>().Bind(configuration.GetSection("Metrics"), o => o.ErrorOnUnknownConfiguration = true).ValidateOnStart();
        services.AddOptions<TelemetryOptions>().Bind(configuration.GetSection("Telemetry"), o => o.ErrorOnUnknownConfiguration = true).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MetricsOptions>>(sp => sp.GetRequiredService<TelemetryOptionsValidation>());
        services.AddSingleton<IValidateOptions<TelemetryOptions>>(sp => sp.GetRequiredService<TelemetryOptionsValidation>());
        services.AddSingleton<ChatGauges>();
        services.AddSingleton<MetricsService>();
        services.AddHostedService(sp => sp.GetRequiredService<MetricsService>());
        return services;
    }
}
