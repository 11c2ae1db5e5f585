using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Phoenix;
using TinyChat.Web;

namespace TinyChat.Tests.Phoenix;

/// <summary>Encoding once per serializer version, framing, and what a socket's subscriptions let through.</summary>
public sealed class PhoenixEncodingTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 10, 15, 30, 125, TimeSpan.Zero);

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    [Test]
    public void A_broadcast_is_encoded_once_per_version_and_shared()
    {
        var message = new RoomMessage("default", "foo_user", "hi \"there\"", 7, At);

        var v2 = message.EncodeWith(PhoenixEventEncoder.V2);
        var v1 = message.EncodeWith(PhoenixEventEncoder.V1);

        Assert.That(Text(v2), Is.EqualTo("""[null,null,"room:default","new_msg",{"id":7,"user":"foo_user","body":"hi \"there\"","inserted_at":"2026-12-02T10:15:30.125Z"}]"""));
        Assert.That(Text(v1), Is.EqualTo("""{"topic":"room:default","event":"new_msg","payload":{"id":7,"user":"foo_user","body":"hi \"there\"","inserted_at":"2026-12-02T10:15:30.125Z"},"ref":null}"""));
        Assert.That(message.EncodeWith(PhoenixEventEncoder.V2).Equals(v2), Is.True, "the second recipient gets the same bytes");
        Assert.That(message.EncodeWith(new PhoenixFrameEncoder(PhoenixVersion.V2).Events).Equals(v2), Is.True, "every V2 connection shares one encoder");
    }

    [Test]
    public void Presence_has_one_meta_per_connection_and_a_leave_names_the_users_ref()
    {
        var diff = new PresenceDiff("default", [new PresenceEntry("foo_user", At, 2)], [new PresenceEntry("bar_user", At.AddSeconds(-5), 0)]);

        var text = Text(diff.EncodeWith(PhoenixEventEncoder.V2));

        Assert.That(text, Does.StartWith("""[null,null,"room:default","presence_diff",{"joins":{"foo_user":{"metas":[{"phx_ref":"""));
        Assert.That(text.Split("online_at").Length - 1, Is.EqualTo(3), "two metas joined, one meta naming the leaver's ref");
    }

    [Test]
    public void Named_connections_are_metas_with_their_own_refs_and_a_connection_diff_names_only_its_connection()
    {
        var tab1 = new ConnectionPresence("c.1", At);
        var tab2 = new ConnectionPresence("c.2", At.AddSeconds(9));
        var state = new PresenceState("default", [new PresenceEntry("foo_user", At, 2) { Named = [tab1, tab2] }]);
        Assert.That(Text(state.EncodeWith(PhoenixEventEncoder.V2)), Is.EqualTo(
            """[null,null,"room:default","presence_state",{"foo_user":{"metas":[{"phx_ref":"c.1","online_at":"2026-12-02T10:15:30.125Z"},{"phx_ref":"c.2","online_at":"2026-12-02T10:15:39.125Z"}]}}]"""));

        var opened = new PresenceConnectionDiff("default", "foo_user", [tab2], []);
        Assert.That(Text(opened.EncodeWith(PhoenixEventEncoder.V2)), Is.EqualTo(
            """[null,null,"room:default","presence_diff",{"joins":{"foo_user":{"metas":[{"phx_ref":"c.2","online_at":"2026-12-02T10:15:39.125Z"}]}},"leaves":{}}]"""));
        var closed = new PresenceConnectionDiff("default", "foo_user", [], [tab2]);
        Assert.That(Text(closed.EncodeWith(PhoenixEventEncoder.V1)), Is.EqualTo(
            """{"topic":"room:default","event":"presence_diff","payload":{"joins":{},"leaves":{"foo_user":{"metas":[{"phx_ref":"c.2","online_at":"2026-12-02T10:15:39.125Z"}]}}},"ref":null}"""));
    }

    [Test]
    public void A_connection_diff_is_nothing_in_the_protocols_that_show_a_user_once()
    {
        var diff = new PresenceConnectionDiff("default", "foo_user", [new ConnectionPresence("c.2", At)], []);

        Assert.That(diff.EncodeWith(TinyChat.Protocols.Json.JsonEventEncoder.Instance).IsEmpty, Is.True);
        Assert.That(diff.EncodeWith(TinyChat.Protocols.Http.SseEventEncoder.UserStream).IsEmpty, Is.True);
    }

    [Test]
    public void A_private_message_is_two_frames_one_per_users_topic()
    {
        var message = new PrivateMessage("bar_user", "foo_user", "psst", 3, At);
        using var encoder = new PhoenixFrameEncoder(PhoenixVersion.V2);
        var frames = new List<ReadOnlyMemory<byte>>();

        encoder.Frame([message.EncodeWith(encoder.Events)], frames);

        Assert.That(frames.Select(f => Text(f).Split(',')[2]), Is.EqualTo(new[] { "\"user:foo_user\"", "\"user:bar_user\"" }));
    }

    [Test]
    public void A_joining_topic_holds_events_back_and_drops_what_history_already_pushed()
    {
        var link = new RecordingLink();
        var subscriptions = new PhoenixSubscriptions(link, PhoenixEventEncoder.V2, maxHeldBack: 16);
        subscriptions.TryDeliver(new RoomMessage("default", "bar_user", "not joined", 1, At));
        subscriptions.BeginRoomJoin("default", "1");
        subscriptions.TryDeliver(new RoomMessage("default", "bar_user", "also in history", 2, At));
        subscriptions.TryDeliver(new RoomMessage("default", "bar_user", "after history", 3, At));
        subscriptions.TryDeliver(new RoomMessage("other", "bar_user", "other room", 1, At));
        Assert.That(link.Events, Is.Empty);

        subscriptions.CompleteRoomJoin("default", deliveredUpTo: 2);
        subscriptions.TryDeliver(new RoomMessage("default", "bar_user", "live", 4, At));

        Assert.That(link.Events.OfType<RoomMessage>().Select(m => m.Text), Is.EqualTo(new[] { "after history", "live" }));
    }

    [Test]
    public void A_presence_state_on_a_joined_topic_is_a_channel_error()
    {
        var link = new RecordingLink();
        var subscriptions = new PhoenixSubscriptions(link, PhoenixEventEncoder.V2, maxHeldBack: 16);
        subscriptions.BeginRoomJoin("default", "4");
        subscriptions.CompleteRoomJoin("default", 0);

        subscriptions.TryDeliver(new PresenceState("default", []));

        Assert.That(link.Replies.Select(Text), Is.EqualTo(new[] { """["4","4","room:default","phx_error",{}]""" }));
        Assert.That(subscriptions.HasRoom("default"), Is.False, "the client rejoins");
    }

    [Test]
    public void Too_many_held_back_events_close_the_socket_as_a_slow_reader()
    {
        var link = new RecordingLink();
        var subscriptions = new PhoenixSubscriptions(link, PhoenixEventEncoder.V2, maxHeldBack: 1);
        subscriptions.BeginRoomJoin("default", "1");

        Assert.That(subscriptions.TryDeliver(new RoomMessage("default", "a", "1", 1, At)), Is.True);
        Assert.That(subscriptions.TryDeliver(new RoomMessage("default", "a", "2", 2, At)), Is.False);
        Assert.That(link.ClosedWith, Is.EqualTo(ConnectionOutbox.SlowReaderCode));
    }

    private sealed class RecordingLink : IPhoenixLink
    {
        public List<ChatEvent> Events { get; } = [];

        public List<ReadOnlyMemory<byte>> Replies { get; } = [];

        public int? ClosedWith { get; private set; }

        public void Disconnect(string reason) => ClosedWith ??= ConnectionOutbox.RevokedCode;

        public bool TryDeliver(ChatEvent chatEvent)
        {
            Events.Add(chatEvent);
            return true;
        }

        public bool TryDeliver(Reply reply)
        {
            Replies.Add(reply.Bytes);
            return true;
        }

        public void Close(int code, string reason) => ClosedWith = code;

        public int Capacity => int.MaxValue;

        public Task WhenQueuedAtMostAsync(int items, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
