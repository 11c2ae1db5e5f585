using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Builds the TinyChat host: configuration, options, the supervision tree, the chat core and the HTTP server.</summary>
public static class TinyChatHost
{
    /// <summary>The configuration file's name.</summary>
    public const string ConfigFileName = "chat.config.json";

    /// <summary>Top-level sections of the configuration and the options type each binds to; anything else is a typo and stops start-up.</summary>
    public static readonly IReadOnlyDictionary<string, Type?> KnownSections = new Dictionary<string, Type?>(StringComparer.OrdinalIgnoreCase)
    {
        ["Server"] = typeof(ServerOptions),
        ["WebSocket"] = typeof(WebSocketOptions),
        ["Runtime"] = typeof(RuntimeOptions),
        ["Chat"] = typeof(ChatOptions),
        ["Presence"] = typeof(PresenceOptions),
        ["Storage"] = typeof(StorageOptions),
        ["Limits"] = typeof(LimitsOptions),
        ["Irc"] = typeof(TinyChat.Protocols.Irc.IrcOptions),
        ["Sse"] = typeof(TinyChat.Protocols.Http.SseOptions),
        ["Metrics"] = typeof(MetricsOptions),
        ["Telemetry"] = typeof(TelemetryOptions),
        ["Cluster"] = typeof(TinyChat.Cluster.ClusterOptions),
        ["Logging"] = null,
    };

    /// <summary>
    /// Builds the host from command-line arguments: <c>--config PATH</c>, <c>--static PATH</c>, <c>--port N</c>,
    /// <c>--host H</c>, and any <c>--Section:Key value</c>. <paramref name="configure"/> lets tests replace services.
    /// </summary>
    public static IHost Build(string[] args, Action<IServiceCollection>? configure = null)
    {
        var commandLine = CommandLine.Parse(args);
        var configPath = LocateConfigFile(commandLine.ConfigPath);
        var baseDirectory = Path.GetDirectoryName(configPath)!;

        // The builder's default sources (appsettings.json, reloaded on change) are cleared below, but the reload
        // would leave a file watcher on the content root and every folder under it, the data folder included:
        // an inotify event and a wake-up of the watcher's thread for every write of the database and its WAL.
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection([new("hostBuilder:reloadConfigOnChange", "false")]);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = baseDirectory,
            Args = [],
            Configuration = configuration,
        });
        builder.Configuration.Sources.Clear();
        try
        {
            builder.Configuration.AddJsonFile(configPath, optional: false, reloadOnChange: false);
        }
        catch (InvalidDataException ex)
        {
            var json = JsonProblem(ex);
            throw new StartupException($"{configPath} is not valid JSON{Where(json)}: {FirstSentence(json?.Message ?? ex.InnerException?.Message ?? ex.Message)}");
        }

        builder.Configuration.AddEnvironmentVariables("TINYCHAT__");
        builder.Configuration.AddInMemoryCollection(commandLine.Overrides);
        if (commandLine.StaticPath is not null)
        {
            builder.Configuration.AddInMemoryCollection([new("Server:StaticRoot", Path.GetFullPath(commandLine.StaticPath))]);
        }

        if (commandLine.DataPath is not null)
        {
            builder.Configuration.AddInMemoryCollection([new("Storage:DataDirectory", Path.GetFullPath(commandLine.DataPath))]);
        }

        CheckSections(builder.Configuration);

        AddConsoleLogging(builder.Logging, builder.Configuration);

        var services = builder.Services;
        services.Configure<HostOptions>(o =>
        {
            var grace = builder.Configuration.GetValue("Server:ShutdownGraceSeconds", 5.0);
            o.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(1, grace) + 1);
        });
        services.AddSingleton(TimeProvider.System);

        // Registration order is start order (stopped in reverse): storage, the supervision tree, the chat core,
        // then the front doors and the HTTP server.
        services.AddTinyChatOptions(builder.Configuration);
        services.AddStorage(builder.Configuration.GetValue<string>("Storage:Provider"), baseDirectory);
        services.AddCluster(builder.Configuration.GetValue<string>("Storage:Provider"));
        services.AddChatCore();
        services.AddWeb(baseDirectory);
        services.AddJsonProtocol();
        services.AddIrc(builder.Configuration.GetValue("Irc:Enabled", true));
        services.AddPhoenixProtocol();
        services.AddHttpApi(builder.Configuration);
        services.AddTelemetry(builder.Configuration);

        configure?.Invoke(services);
        return builder.Build();
    }

    private static void AddConsoleLogging(ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();

        // Program prints a failed start as one line; the host's own multi-line report of it would bury that line.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        switch (configuration.GetValue("Logging:Format", "simple")?.ToLowerInvariant())
        {
            case "json":
                // One JSON object per line, scopes (connection, user, room) as fields, for log shippers.
                logging.AddJsonConsole(o =>
                {
                    o.IncludeScopes = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
                });
                break;
            case "simple":
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss.fff ";
                });
                break;
            case var other:
                throw new StartupException($"Logging:Format must be \"simple\" or \"json\", got \"{other}\"");
        }
    }

    private static void CheckSections(IConfiguration configuration)
    {
        foreach (var section in configuration.GetChildren())
        {
            if (!KnownSections.TryGetValue(section.Key, out var type))
            {
                throw new StartupException($"unknown configuration key '{section.Key}' (known sections: {string.Join(", ", KnownSections.Keys)})");
            }

            if (type is null)
            {
                continue;
            }

            foreach (var key in section.GetChildren())
            {
                if (type.GetProperty(key.Key, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase) is null)
                {
                    throw new StartupException($"unknown configuration key '{section.Key}:{key.Key}'");
                }
            }
        }
    }

    /// <summary>
    /// Binds and validates every options section and resolves the static root now, so a bad configuration
    /// stops start-up with one line before the host starts anything.
    /// </summary>
    public static void ValidateConfiguration(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<ServerOptions>>().Value;
        _ = services.GetRequiredService<IOptions<WebSocketOptions>>().Value;
        _ = services.GetRequiredService<IOptions<RuntimeOptions>>().Value;
        _ = services.GetRequiredService<IOptions<ChatOptions>>().Value;
        _ = services.GetRequiredService<IOptions<PresenceOptions>>().Value;
        _ = services.GetRequiredService<IOptions<StorageOptions>>().Value;
        _ = services.GetRequiredService<IOptions<LimitsOptions>>().Value;
        _ = services.GetRequiredService<IOptions<TinyChat.Protocols.Irc.IrcOptions>>().Value;
        _ = services.GetRequiredService<IOptions<TinyChat.Protocols.Http.SseOptions>>().Value;
        _ = services.GetRequiredService<IOptions<MetricsOptions>>().Value;
        _ = services.GetRequiredService<IOptions<TelemetryOptions>>().Value;
        _ = services.GetRequiredService<IOptions<TinyChat.Cluster.ClusterOptions>>().Value;
        _ = services.GetRequiredService<StaticFiles>();
    }

    private static JsonException? JsonProblem(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is JsonException json)
            {
                return json;
            }
        }

        return null;
    }

    // System.Text.Json counts lines and bytes from 0; people count from 1.
    private static string Where(JsonException? ex) =>
        ex?.LineNumber is { } line ? $" at line {line + 1}, column {(ex.BytePositionInLine ?? 0) + 1}" : "";

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message.TrimEnd('.');
    }

    private static string LocateConfigFile(string? explicitPath)
    {
        if (explicitPath is not null)
        {
            var full = Path.GetFullPath(explicitPath);
            return File.Exists(full) ? full : throw new StartupException($"--config: file {full} does not exist");
        }

        // Next to the executable first, so the server behaves the same from any working directory.
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, ConfigFileName),
            Path.Combine(Directory.GetCurrentDirectory(), ConfigFileName),
        ];
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new StartupException($"{ConfigFileName} not found next to the executable ({AppContext.BaseDirectory}) or in the working directory; pass --config PATH");
    }
}
