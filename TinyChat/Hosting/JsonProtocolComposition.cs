using Microsoft.Extensions.DependencyInjection;
using TinyChat.Protocols.Json;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Composition of the native JSON WebSocket protocol, the first front door.</summary>
public static class JsonProtocolComposition
{
    /// <summary>The native JSON WebSocket protocol on <c>/chat</c>.</summary>
    public static IServiceCollection AddJsonProtocol(this IServiceCollection services)
    {
        services.AddSingleton<ChatEndpoint>();
        services.AddSingleton(sp => new Route("/chat", sp.GetRequiredService<ChatEndpoint>().HandleAsync));
        return services;
    }
}
