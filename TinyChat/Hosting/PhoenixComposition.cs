using Microsoft.Extensions.DependencyInjection;
using TinyChat.Protocols.Phoenix;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Composition of the Phoenix Channels front door.</summary>
public static class PhoenixComposition
{
    /// <summary>Phoenix Channels on <c>/socket/websocket</c> and <c>/socket/longpoll</c> (phoenix.js appends the transport to its endpoint).</summary>
    public static IServiceCollection AddPhoenixProtocol(this IServiceCollection services)
    {
        services.AddSingleton<PhoenixEndpoint>();
        services.AddSingleton(sp => new Route("/socket/websocket", sp.GetRequiredService<PhoenixEndpoint>().HandleAsync));
        services.AddSingleton<PhoenixLongPollEndpoint>();
        services.AddSingleton(sp => new Route("/socket/longpoll", sp.GetRequiredService<PhoenixLongPollEndpoint>().HandleAsync));
        return services;
    }
}
