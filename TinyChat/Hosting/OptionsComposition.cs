using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Binds every configuration section to its options type, validated at start by <see cref="OptionsValidation"/>.</summary>
public static class OptionsComposition
{
    /// <summary>Registers the options of every area.</summary>
    public static IServiceCollection AddTinyChatOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<OptionsValidation>();
        Add<ServerOptions>(services, configuration, "Server");
        Add<WebSocketOptions>(services, configuration, "WebSocket");
        Add<RuntimeOptions>(services, configuration, "Runtime");
        Add<ChatOptions>(services, configuration, "Chat");
        Add<PresenceOptions>(services, configuration, "Presence");
        Add<StorageOptions>(services, configuration, "Storage");
        Add<LimitsOptions>(services, configuration, "Limits");
        Add<TinyChat.Protocols.Irc.IrcOptions>(services, configuration, "Irc");
        Add<TinyChat.Cluster.ClusterOptions>(services, configuration, "Cluster");
        return services;
    }

    private static void Add<T>(IServiceCollection services, IConfiguration configuration, string section)
        where T : class
    {
        services.AddOptions<T>()
            .Bind(configuration.GetSection(section), o => o.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(sp => (IValidateOptions<T>)(object)sp.GetRequiredService<OptionsValidation>());
    }
}
