using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Composition of the chat core: the supervision tree and the <see cref="ChatServer"/> every front door calls.</summary>
public static class CoreComposition
{
    /// <summary>Registers the supervision tree, the chat core and its start-up seeding.</summary>
    public static IServiceCollection AddChatCore(this IServiceCollection services)
    {
        services.AddSingleton<SupervisionTree>();
        services.TryAddSingleton<IChatBus, InProcessChatBus>();
        services.TryAddSingleton<IBusHealth>(new InProcessBusHealth());
        services.TryAddSingleton<IPresence>(sp => new InProcessPresence(
            sp.GetRequiredService<IOptions<TinyChat.Cluster.ClusterOptions>>().Value.NodeName ?? InProcessPresence.SingleNode));
        services.AddHostedService(sp => sp.GetRequiredService<SupervisionTree>());
        services.AddSingleton(sp =>
        {
            var tree = sp.GetRequiredService<SupervisionTree>();
            var runtime = sp.GetRequiredService<IOptions<RuntimeOptions>>().Value;
            var chat = sp.GetRequiredService<IOptions<ChatOptions>>().Value;
            var limits = sp.GetRequiredService<IOptions<LimitsOptions>>().Value;
            var presence = sp.GetRequiredService<IOptions<PresenceOptions>>().Value;
            return new ChatServer(
                sp.GetRequiredService<IAccountStore>(),
                sp.GetRequiredService<IRoomStore>(),
                sp.GetRequiredService<IMessageStore>(),
                tree.Rooms,
                tree.Sessions,
                new ChatLimits(chat.MaxMessageLength, runtime.RoomMailboxCapacity, runtime.SessionMailboxCapacity)
                {
                    RoomCommitsInFlight = runtime.RoomCommitsInFlight,
                    MessagesPerSecond = limits.MessagesPerSecond,
                    MessageBurst = limits.MessageBurst,
                    MaxRoomsCreatedPerUser = limits.MaxRoomsCreatedPerUser,
                    MaxConnectionsPerUser = limits.MaxConnectionsPerUser,
                    IdleRoomAfter = TimeSpan.FromSeconds(runtime.IdleRoomSeconds),
                    PresenceTick = TimeSpan.FromMilliseconds(presence.TickMilliseconds),
                    CountTick = TimeSpan.FromMilliseconds(presence.CountTickMilliseconds),
                    FullPresenceMaxMembers = presence.FullStateMaxMembers,
                    Registration = Enum.Parse<RegistrationMode>(chat.Registration, ignoreCase: true),
                    Admins = new HashSet<string>(chat.SeedUsers.Take(1).Select(seed => seed.Username).Concat(chat.Admins), StringComparer.Ordinal),
                },
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<IChatBus>(),
                sp.GetRequiredService<IPresence>())
            {
                AdminStore = sp.GetService<IAdminStore>(),
            };
        });
        services.AddHostedService<ChatStartup>();

        // Its StoppingAsync runs before any service stops, whatever the registration order.
        services.AddHostedService<ShutdownOrder>();
        services.AddHostedService<IdleSweep>();

        // Only stores an administrator can change from outside (SQLite, PostgreSQL) register an IAdminStore.
        if (services.Any(d => d.ServiceType == typeof(IAdminStore)))
        {
            services.AddHostedService<AdminChangeWatch>();
        }

        return services;
    }
}
