using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.InMemory;
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
            return services;
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
        return services;
    }
}
