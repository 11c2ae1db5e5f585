using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>
/// Composition of the HTTP server and what every front door shares: static files, the route table, the
/// connection gate (origin, per-address limits), open connections, health and registration.
/// </summary>
public static class WebComposition
{
    /// <summary>Registers the HTTP server and its shared parts; front doors add their <see cref="Route"/>s.</summary>
    public static IServiceCollection AddWeb(this IServiceCollection services, string baseDirectory)
    {
        services.AddSingleton(sp =>
        {
            var root = sp.GetRequiredService<IOptions<ServerOptions>>().Value.StaticRoot;
            var full = Path.IsPathRooted(root) ? root : Path.Combine(baseDirectory, root);
            return Directory.Exists(full) ? new StaticFiles(full) : throw new StartupException($"Server:StaticRoot: folder {full} does not exist (pass --static PATH with the folder of the web client)");
        });
        services.AddSingleton<OpenConnections>();
        services.AddSingleton<ClientAddressLimits>();
        services.AddSingleton<ClientAddresses>();
        services.AddSingleton<ConnectionGate>();
        services.AddSingleton<PendingConnections>();
        services.AddSingleton<SignIns>();
        services.AddSingleton<ServerAddress>();
        services.AddSingleton<HealthEndpoint>();
        services.AddSingleton<RegistrationEndpoint>();
        services.AddSingleton(sp => new Route("/healthz", sp.GetRequiredService<HealthEndpoint>().HandleAsync));
        services.AddSingleton(sp => new Route("/api/users", sp.GetRequiredService<RegistrationEndpoint>().HandleAsync));
        services.AddSingleton(sp => new Route("/api/registration", sp.GetRequiredService<RegistrationEndpoint>().HandleModeAsync));
        services.AddSingleton(sp => new RouteTable(sp.GetServices<Route>()));
        services.AddHostedService<HttpServer>();
        return services;
    }
}
