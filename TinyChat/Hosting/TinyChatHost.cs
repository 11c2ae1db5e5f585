using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
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
        ["Storage"] = typeof(StorageOptions),
        ["Limits"] = typeof(LimitsOptions),
        ["Logging"] = null,
    };

    /// <summary>
    /// Builds the host from command-line arguments: <c>--config PATH</c>, <c>--static PATH</c>, <c>--port N</c>,
    /// <c>--host H</c>, and any <c>--Section:Key value</c>. <paramref name="configure"/> lets tests replace services.
    /// </summary>
    public static IHost Build(string[] args, Action<IServiceCollection>? configure = null)
    {
        var (configPath, staticPath, rest) = SplitPathArguments(args);
        configPath = LocateConfigFile(configPath);
        var baseDirectory = Path.GetDirectoryName(configPath)!;

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = baseDirectory,
            Args = [],
        });
        builder.Configuration.Sources.Clear();
        try
        {
            builder.Configuration.AddJsonFile(configPath, optional: false, reloadOnChange: false);
        }
        catch (InvalidDataException ex)
        {
            throw new StartupException($"{configPath} is not valid JSON: {ex.InnerException?.Message ?? ex.Message}");
        }

        builder.Configuration.AddEnvironmentVariables("TINYCHAT__");
        builder.Configuration.AddCommandLine(rest, new Dictionary<string, string>
        {
            ["--port"] = "Server:Port",
            ["--host"] = "Server:Host",
        });
        if (staticPath is not null)
        {
            builder.Configuration.AddInMemoryCollection([new("Server:StaticRoot", Path.GetFullPath(staticPath))]);
        }

        CheckSections(builder.Configuration);

        builder.Logging.ClearProviders();

        // Program prints a failed start as one line; the host's own multi-line report of it would bury that line.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });

        var services = builder.Services;
        AddOptions<ServerOptions>(services, builder.Configuration, "Server");
        AddOptions<WebSocketOptions>(services, builder.Configuration, "WebSocket");
        AddOptions<RuntimeOptions>(services, builder.Configuration, "Runtime");
        AddOptions<ChatOptions>(services, builder.Configuration, "Chat");
        AddOptions<StorageOptions>(services, builder.Configuration, "Storage");
        AddOptions<LimitsOptions>(services, builder.Configuration, "Limits");
        services.AddSingleton<OptionsValidation>();
        services.AddSingleton<IValidateOptions<ServerOptions>>(sp => sp.GetRequiredService<OptionsValidation>());
        services.AddSingleton<IValidateOptions<WebSocketOptions>>(sp => sp.GetRequiredService<OptionsValidation>());
        services.AddSingleton<IValidateOptions<RuntimeOptions>>(sp => sp.GetRequiredService<OptionsValidation>());
        services.AddSingleton<IValidateOptions<ChatOptions>>(sp => sp.GetRequiredService<OptionsValidation>());
        services.AddSingleton<IValidateOptions<StorageOptions>>(sp => sp.GetRequiredService<OptionsValidation>());
        services.AddSingleton<IValidateOptions<LimitsOptions>>(sp => sp.GetRequiredService<OptionsValidation>());
        services.Configure<HostOptions>(o =>
        {
            var grace = builder.Configuration.GetValue("Server:ShutdownGraceSeconds", 5.0);
            o.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(1, grace) + 1);
        });

        services.AddSingleton(TimeProvider.System);

        // Start order matters: storage, the supervision tree, the chat core, then the HTTP server (stopped in reverse).
        AddStorage(services, builder.Configuration.GetValue<string>("Storage:Provider"), baseDirectory);
        services.AddSingleton<SupervisionTree>();
        services.AddSingleton<IChatBus, InProcessChatBus>();
        services.AddHostedService(sp => sp.GetRequiredService<SupervisionTree>());
        services.AddSingleton(sp =>
        {
            var tree = sp.GetRequiredService<SupervisionTree>();
            var runtime = sp.GetRequiredService<IOptions<RuntimeOptions>>().Value;
            var chat = sp.GetRequiredService<IOptions<ChatOptions>>().Value;
            var limits = sp.GetRequiredService<IOptions<LimitsOptions>>().Value;
            return new ChatServer(
                sp.GetRequiredService<IAccountStore>(),
                sp.GetRequiredService<IRoomStore>(),
                sp.GetRequiredService<IMessageStore>(),
                tree.Rooms,
                tree.Sessions,
                new ChatLimits(chat.MaxMessageLength, runtime.RoomMailboxCapacity, runtime.SessionMailboxCapacity)
                {
                    MessagesPerSecond = limits.MessagesPerSecond,
                    MessageBurst = limits.MessageBurst,
                    MaxRoomsCreatedPerUser = limits.MaxRoomsCreatedPerUser,
                },
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<IChatBus>());
        });
        services.AddHostedService<ChatStartup>();

        services.AddSingleton(sp =>
        {
            var root = sp.GetRequiredService<IOptions<ServerOptions>>().Value.StaticRoot;
            var full = Path.IsPathRooted(root) ? root : Path.Combine(baseDirectory, root);
            return Directory.Exists(full) ? new StaticFiles(full) : throw new StartupException($"Server:StaticRoot: folder {full} does not exist");
        });
        services.AddSingleton<OpenConnections>();
        services.AddSingleton<ClientAddressLimits>();
        services.AddSingleton<ServerAddress>();
        services.AddSingleton<ChatEndpoint>();
        services.AddSingleton<RegistrationEndpoint>();
        services.AddHostedService<HttpServer>();

        configure?.Invoke(services);
        return builder.Build();
    }

    // How often retention pruning runs (when a retention limit is set): history limits are coarse, a minute is plenty.
    private static readonly TimeSpan RetentionInterval = TimeSpan.FromMinutes(1);

    private static void AddStorage(IServiceCollection services, string? provider, string baseDirectory)
    {
        if (StorageOptions.IsMemory(provider))
        {
            services.AddSingleton<InMemoryStore>();
            services.AddSingleton<IAccountStore>(sp => sp.GetRequiredService<InMemoryStore>());
            services.AddSingleton<IRoomStore>(sp => sp.GetRequiredService<InMemoryStore>());
            services.AddSingleton<IMessageStore>(sp => sp.GetRequiredService<InMemoryStore>());
            return;
        }

        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            var directory = Path.IsPathRooted(options.DataDirectory) ? options.DataDirectory : Path.Combine(baseDirectory, options.DataDirectory);
            var settings = new SqliteStoreSettings(
                Path.GetFullPath(Path.Combine(directory, SqliteStoreSettings.FileName)),
                Enum.Parse<SqliteSynchronous>(options.Synchronous, ignoreCase: true),
                new RetentionPolicy(options.MaxMessagesPerRoom, TimeSpan.FromDays(options.MaxMessageAgeDays)));
            return new SqliteStore(settings, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SqliteStore>>());
        });
        services.AddSingleton<IAccountStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton<IRoomStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton<IMessageStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddSingleton(sp => new RetentionLoop(
            sp.GetRequiredService<SqliteStore>(),
            RetentionInterval,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<RetentionLoop>>()));
        services.AddHostedService<StorageService>();
    }

    private static void AddOptions<T>(IServiceCollection services, IConfiguration configuration, string section)
        where T : class
    {
        services.AddOptions<T>()
            .Bind(configuration.GetSection(section), o => o.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
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
        _ = services.GetRequiredService<IOptions<StorageOptions>>().Value;
        _ = services.GetRequiredService<IOptions<LimitsOptions>>().Value;
        _ = services.GetRequiredService<StaticFiles>();
    }

    private static (string? Config, string? Static, string[] Remaining) SplitPathArguments(string[] args)
    {
        string? config = null;
        string? staticRoot = null;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" when i + 1 < args.Length:
                    config = args[++i];
                    break;
                case "--static" when i + 1 < args.Length:
                    staticRoot = args[++i];
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        return (config, staticRoot, [.. rest]);
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
