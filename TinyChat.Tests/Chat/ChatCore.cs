using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;

namespace TinyChat.Tests.Chat;

/// <summary>The chat core with its supervisors and an in-memory store, and no sockets: front-door-free tests drive it.</summary>
public sealed class ChatCore : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly Task rooms;
    private readonly Task sessions;

    private ChatCore(ChatLimits limits, InMemoryStore? store = null, IChatBus? bus = null, IPresence? presence = null, TimeProvider? time = null)
    {
        Store = store ?? new InMemoryStore();
        var roomSupervisor = new Supervisor("rooms", RestartPolicy.Default, NullLogger.Instance);
        var sessionSupervisor = new Supervisor("sessions", RestartPolicy.Default, NullLogger.Instance);
        rooms = roomSupervisor.RunAsync(stop.Token);
        sessions = sessionSupervisor.RunAsync(stop.Token);
        Started = Task.WhenAll(roomSupervisor.Started, sessionSupervisor.Started);
        Server = new ChatServer(Store, Store, Store, roomSupervisor, sessionSupervisor, limits, time ?? TimeProvider.System, bus, presence);
    }

    /// <summary>The store behind the core.</summary>
    public InMemoryStore Store { get; }

    /// <summary>The core's facade.</summary>
    public ChatServer Server { get; }

    private Task Started { get; }

    /// <summary>Starts a core with the default room and the given users (token = name + "_token").</summary>
    public static Task<ChatCore> StartAsync(ChatLimits? limits = null, params string[] users) => StartAsync(TimeProvider.System, limits, users);

    /// <summary>Starts a core on the given clock with the default room and the given users (token = name + "_token").</summary>
    public static async Task<ChatCore> StartAsync(TimeProvider time, ChatLimits? limits = null, params string[] users)
    {
        var core = new ChatCore(limits ?? new ChatLimits(4000, 64, 64), time: time);
        await core.Started.WaitAsync(TimeSpan.FromSeconds(10));
        await core.Server.InitializeAsync(CancellationToken.None);
        foreach (var user in users)
        {
            await core.Store.UpsertAsync(user, user + "_token", CancellationToken.None);
        }

        return core;
    }

    /// <summary>
    /// One node of a cluster: a core over a store, a bus and a presence shared with the other nodes (the users
    /// are created by whoever started the first node).
    /// </summary>
    public static async Task<ChatCore> StartNodeAsync(InMemoryStore store, IChatBus bus, IPresence presence, ChatLimits? limits = null, TimeProvider? time = null)
    {
        var core = new ChatCore(limits ?? new ChatLimits(4000, 64, 64), store, bus, presence, time);
        await core.Started.WaitAsync(TimeSpan.FromSeconds(10));
        await core.Server.InitializeAsync(CancellationToken.None);
        return core;
    }

    /// <summary>Admits a user by token and connects a recording outbox.</summary>
    public async Task<(ChatClient Client, RecordingOutbox Outbox)> ConnectAsync(string user)
    {
        var admitted = await Server.AdmitAsync(user + "_token", CancellationToken.None);
        Assert.That(admitted.Error, Is.Null);
        var outbox = new RecordingOutbox();
        var client = await admitted.Value!.ConnectAsync(outbox, CancellationToken.None);
        return (client, outbox);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(rooms, sessions).WaitAsync(TimeSpan.FromSeconds(10));
        stop.Dispose();
    }
}
