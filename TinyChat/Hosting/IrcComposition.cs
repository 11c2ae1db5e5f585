using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Protocols.Irc;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Composition of the IRC front door: its shared state and the TCP listener, when <c>Irc:Enabled</c>.</summary>
public static class IrcComposition
{
    /// <summary>Registers the IRC server (started after the chat core, stopped before it).</summary>
    public static IServiceCollection AddIrc(this IServiceCollection services, bool enabled)
    {
        services.AddSingleton(sp =>
        {
            var limits = sp.GetRequiredService<IOptions<LimitsOptions>>().Value;
            return new IrcFrontDoor(
                sp.GetRequiredService<ChatServer>(),
                sp.GetRequiredService<SignIns>(),
                sp.GetRequiredService<IOptions<IrcOptions>>().Value,
                new IrcLineLimits(limits.FramesPerSecond, limits.FrameBurst, limits.FloodDisconnectAfter),
                sp.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton(sp =>
        {
            var irc = sp.GetRequiredService<IOptions<IrcOptions>>().Value;
            var host = string.IsNullOrWhiteSpace(irc.Host) ? sp.GetRequiredService<IOptions<ServerOptions>>().Value.Host : irc.Host;
            return new IrcServer(sp.GetRequiredService<IrcFrontDoor>(), host, sp.GetRequiredService<ILogger<IrcServer>>());
        });
        if (enabled)
        {
            services.AddHostedService(sp => sp.GetRequiredService<IrcServer>());
            services.AddSingleton<IForgetsIdle>(sp => sp.GetRequiredService<IrcFrontDoor>().Operators);
        }

        return services;
    }
}
