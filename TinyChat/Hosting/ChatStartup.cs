using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;

namespace TinyChat.Hosting;

/// <summary>Prepares the chat core before the server accepts anyone: seed accounts and the default room.</summary>
public sealed class ChatStartup(ChatServer chat, IOptions<ChatOptions> options, ILogger<ChatStartup> logger) : IHostedService
{
    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var seed in options.Value.SeedUsers)
        {
            await chat.Accounts.UpsertAsync(seed.Username, seed.Token, cancellationToken).ConfigureAwait(false);
        }

        await chat.InitializeAsync(cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Seeded {Count} users", options.Value.SeedUsers.Count);
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
