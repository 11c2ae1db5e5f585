using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.InMemory;
using TinyChat.Storage.Postgres;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Hosting;

/// <summary>Composition of the storage area.</summary>
public static class StorageComposition
{
    // How often retention pruning runs (when a retention limit is set): history limits are coarse, a minute is plenty.
    private static readonly TimeSpan RetentionInterval = TimeSpan.FromMinutes(1);

    /// <summary>The store named by <c>Storage:Provider</c> behind the core's store interfaces.</summary>
    public static IServiceCollection AddStorage(this IServiceCollection services, string? provider, string baseDirectory)
    {
        if (StorageOptions.IsMemory(provider))
        {
            services.AddSingleton<InMemoryStore>();
            services.AddSingleton<IAccountStore>(sp => sp.GetRequiredService<InMemoryStore>());
            services.AddSingleton<IRoomStore>(sp => sp.GetRequiredService<InMemoryStore>());
            services.AddSingleton<IMessageStore>(sp => sp.GetRequiredService<InMemoryStore>());
            services.AddSingleton<IStoreHealth>(sp => sp.GetRequiredService<InMemoryStore>());
            services.AddSingleton<IInviteStore>(sp => sp.GetRequiredService<InMemoryStore>());
            return services;
        }

        if (StorageOptions.IsPostgres(provider))
        {
            services.AddSingleton(sp =>
            {
                var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
                var settings = new PostgresStoreSettings(options.ConnectionString!, Retention(options));
                return new PostgresStore(settings, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<PostgresStore>>());
            });
            services.AddSingleton<IDurableStore>(sp => sp.GetRequiredService<PostgresStore>());
            services.AddSingleton<IAdminStore>(sp => new PostgresAdminStore(sp.GetRequiredService<PostgresStore>(), sp.GetRequiredService<TimeProvider>()));
        }
        else
        {
            services.AddSingleton(sp =>
            {
                var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
                var settings = new SqliteStoreSettings(
                    SqlitePath(options, baseDirectory),
                    Enum.Parse<SqliteSynchronous>(options.Synchronous, ignoreCase: true),
                    Retention(options));
                return new SqliteStore(settings, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SqliteStore>>());
            });
            services.AddSingleton<IDurableStore>(sp => sp.GetRequiredService<SqliteStore>());
            services.AddSingleton<IAdminStore>(sp => new SqliteAdminStore(
                SqlitePath(sp.GetRequiredService<IOptions<StorageOptions>>().Value, baseDirectory),
                sp.GetRequiredService<TimeProvider>()));
        }

        services.AddSingleton<IInviteStore>(sp => sp.GetRequiredService<IAdminStore>());
        services.AddSingleton<IAccountStore>(sp => sp.GetRequiredService<IDurableStore>());
        services.AddSingleton<IRoomStore>(sp => sp.GetRequiredService<IDurableStore>());
        services.AddSingleton<IMessageStore>(sp => sp.GetRequiredService<IDurableStore>());
        services.AddSingleton<IStoreHealth>(sp => sp.GetRequiredService<IDurableStore>());
        services.AddSingleton(sp => new RetentionLoop(
            sp.GetRequiredService<IDurableStore>(),
            RetentionInterval,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<RetentionLoop>>()));
        services.AddHostedService<StorageService>();
        return services;
    }

    /// <summary>The SQLite file: <c>tinychat.db</c> in <c>Storage:DataDirectory</c>, relative to the configuration file's folder.</summary>
    public static string SqlitePath(StorageOptions options, string baseDirectory)
    {
        var directory = Path.IsPathRooted(options.DataDirectory) ? options.DataDirectory : Path.Combine(baseDirectory, options.DataDirectory);
        return Path.GetFullPath(Path.Combine(directory, SqliteStoreSettings.FileName));
    }

    private static RetentionPolicy Retention(StorageOptions options) =>
        new(options.MaxMessagesPerRoom, TimeSpan.FromDays(options.MaxMessageAgeDays));
}
