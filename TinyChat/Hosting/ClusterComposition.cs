using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Cluster;
using TinyChat.Storage;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>
/// Composition of cluster mode: with <c>Storage:Provider</c> = <c>postgres</c> the node talks to the others through
/// the database (<see cref="PostgresChatBus"/>, <see cref="ClusterPresence"/>); with any other provider nothing is
/// registered here and the core keeps its in-process bus and presence.
/// </summary>
public static class ClusterComposition
{
    /// <summary>Registers the PostgreSQL bus, cluster presence and the <see cref="ClusterService"/> when the store is PostgreSQL.</summary>
    public static IServiceCollection AddCluster(this IServiceCollection services, string? provider)
    {
        if (!StorageOptions.IsPostgres(provider))
        {
            return services;
        }

        services.AddSingleton(sp => PostgresChatBus.Start(
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.ConnectionString!,
            sp.GetRequiredService<IMessageStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PostgresChatBus>>()));
        services.AddSingleton<IChatBus>(sp => sp.GetRequiredService<PostgresChatBus>());
        services.AddSingleton<IBusHealth>(sp => new ClusterBusHealth(
            sp.GetRequiredService<PostgresChatBus>(),
            TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<ClusterOptions>>().Value.NodeTimeoutSeconds),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp =>
        {
            var cluster = sp.GetRequiredService<IOptions<ClusterOptions>>().Value;
            var port = sp.GetRequiredService<IOptions<ServerOptions>>().Value.Port;
            return new ClusterPresence(
                cluster.ResolveNodeName(port),
                sp.GetRequiredService<IChatBus>(),
                sp.GetRequiredService<TimeProvider>(),
                TimeSpan.FromSeconds(cluster.HeartbeatSeconds),
                TimeSpan.FromSeconds(cluster.NodeTimeoutSeconds),
                sp.GetRequiredService<ILogger<ClusterPresence>>());
        });
        services.AddSingleton<IPresence>(sp => sp.GetRequiredService<ClusterPresence>());

        // Registered before the chat core: it starts before the rooms and stops after them, so the node's last
        // batches and its leaving notice still go out.
        services.AddHostedService<ClusterService>();
        return services;
    }
}
