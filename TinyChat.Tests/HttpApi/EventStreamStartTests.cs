using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

/// <summary>
/// Where a fresh user event stream (<c>GET /api/events</c>) starts. It counts each room's messages up to the position
/// it reads as already sent; read once the stream was attached, a message committed in between (its fan-out still
/// on the way) was counted and then dropped when it arrived: posted after the stream answered, never shown.
/// </summary>
[TestFixture]
public sealed class EventStreamStartTests
{
    [Test]
    public async Task A_fresh_user_stream_reads_where_its_rooms_stand_before_it_is_attached()
    {
        var positions = new PositionReads();
        await using var server = await TestServer.StartAsync(configure: services =>
            services.AddSingleton<IMessageStore>(sp => positions.Around(sp.GetRequiredService<IDurableStore>(), sp)));
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "before");

        positions.Watch("foo_user");
        await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token");
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "after");
        Assert.That(Message(await stream.ExpectAsync(e => e.Event == "message")), Is.EqualTo("after"));

        Assert.That(positions.OnlineAtRead, Is.Not.Empty, "the stream read where default stands");
        Assert.That(positions.OnlineAtRead, Is.All.False, "foo_user's stream was already attached when it read where default stands");
    }

    // Records, for each room position read while watching, whether the watched user was connected at that moment.
    private sealed class PositionReads
    {
        private readonly List<bool> onlineAtRead = [];
        private string? watched;
        private IServiceProvider? services;

        public IReadOnlyList<bool> OnlineAtRead
        {
            get
            {
                lock (onlineAtRead)
                {
                    return [.. onlineAtRead];
                }
            }
        }

        public void Watch(string user) => Volatile.Write(ref watched, user);

        public IMessageStore Around(IMessageStore inner, IServiceProvider provider)
        {
            services = provider;
            return new Store(inner, this);
        }

        private void Read()
        {
            if (Volatile.Read(ref watched) is { } user && services is not null)
            {
                var online = services.GetRequiredService<ChatServer>().Sessions.FindOnline(user) is not null;
                lock (onlineAtRead)
                {
                    onlineAtRead.Add(online);
                }
            }
        }

        private sealed class Store(IMessageStore inner, PositionReads reads) : ForwardingMessageStore(inner)
        {
            public override ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken)
            {
                reads.Read();
                return base.LastRoomIdAsync(room, cancellationToken);
            }
        }
    }
}
