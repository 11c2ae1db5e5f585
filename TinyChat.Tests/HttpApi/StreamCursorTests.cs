using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Http;

namespace TinyChat.Tests.HttpApi;

/// <summary>The user stream's cursor: its text, and how each stream's framing moves it past the shared encodings.</summary>
public sealed class StreamCursorTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 10, 15, 30, 125, TimeSpan.Zero);

    [Test]
    public void A_cursor_reads_back_what_it_wrote()
    {
        var cursor = new StreamCursor(1_700_000_000_000, 9);
        cursor.Delivered("ops", 17);
        cursor.Delivered("default", 42);
        cursor.Delivered("default", 40);

        Assert.That(cursor.ToString(), Is.EqualTo("c1~1700000000000~9~default:42~ops:17"), "rooms sorted, positions never go back");
        Assert.That(StreamCursor.TryParse(cursor.ToString(), out var parsed), Is.True);
        Assert.That((parsed.StartedAtMs, parsed.Private, parsed.RoomPosition("default"), parsed.RoomPosition("ops"), parsed.RoomPosition("x")), Is.EqualTo((1_700_000_000_000L, 9L, (long?)42, (long?)17, (long?)null)));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("12")]
    [TestCase("1700000000000-12-default")]
    [TestCase("c2~1~2")]
    [TestCase("c1~1")]
    [TestCase("c1~1~x")]
    [TestCase("c1~1~2~default")]
    [TestCase("c1~1~2~bad room:3")]
    [TestCase("c1~1~2~default:3~default:4")]
    [TestCase("c1~1~2~default:-3")]
    public void Anything_else_is_not_a_cursor(string? text) => Assert.That(StreamCursor.TryParse(text, out _), Is.False);

    [Test]
    public void Each_stream_ends_a_shared_message_encoding_with_its_own_cursor()
    {
        var message = new RoomMessage("default", "bar_user", "hi", 43, At);
        var privately = new PrivateMessage("bar_user", "foo_user", "psst", 10, At);
        var shared = message.EncodeWith(SseEventEncoder.UserStream);
        using var first = new SseFrameEncoder(SseEventEncoder.UserStream) { Cursor = new StreamCursor(5, 9) };
        using var second = new SseFrameEncoder(SseEventEncoder.UserStream) { Cursor = new StreamCursor(5, 0) };
        var keepAlive = SseEventEncoder.KeepAlive;

        var one = Frames(first, shared, keepAlive, privately.EncodeWith(SseEventEncoder.UserStream));
        var two = Frames(second, message.EncodeWith(SseEventEncoder.UserStream));

        Assert.That(message.EncodeWith(SseEventEncoder.UserStream).Equals(shared), Is.True, "one encoding for every stream");
        Assert.That(one, Is.EqualTo(
            "event: message\ndata: {\"room\":\"default\",\"from\":\"bar_user\",\"message\":\"hi\",\"id\":43,\"ts\":\"2026-12-02T10:15:30.125Z\"}\nid: c1~5~9~default:43\n\n"
            + ": keep-alive\n\n"
            + "event: private_message\ndata: " + Encoding.UTF8.GetString(privately.EncodeWith(TinyChat.Protocols.Json.JsonEventEncoder.Instance).Span) + "\nid: c1~5~10~default:43\n\n"));
        Assert.That(two, Does.EndWith("\nid: c1~5~0~default:43\n\n"));
    }

    [Test]
    public void A_room_stream_keeps_the_room_sequence_number_as_its_id()
    {
        var message = new RoomMessage("default", "bar_user", "hi", 43, At);
        using var frames = new SseFrameEncoder(SseEventEncoder.RoomStream);

        Assert.That(Frames(frames, message.EncodeWith(SseEventEncoder.RoomStream)), Does.StartWith("id: 43\nevent: message\n").And.EndWith("}\n\n"));
    }

    private static string Frames(SseFrameEncoder encoder, params ReadOnlyMemory<byte>[] items)
    {
        var frames = new List<ReadOnlyMemory<byte>>();
        encoder.Frame(items, frames);
        return string.Concat(frames.Select(f => Encoding.UTF8.GetString(f.Span)));
    }
}
