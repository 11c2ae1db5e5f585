using System.Text;
using System.Text.Json;
using TinyChat.Protocols.Json;

namespace TinyChat.Tests.Protocols;

public sealed class ClientFrameTests
{
    private static ClientFrame Parse(string json) => ClientFrame.Parse(Encoding.UTF8.GetBytes(json));

    [Test]
    public void A_full_frame_parses_every_field()
    {
        var frame = Parse("""{"command":"history","room":"r","with":"u","before":5,"limit":10,"ref":"x1","extra":{"deep":[1,2]}}""");
        Assert.That(frame.Error, Is.Null);
        Assert.That((frame.Command, frame.Room, frame.With, frame.Before, frame.Limit), Is.EqualTo(("history", "r", "u", 5L, 10L)));
        Assert.That(Encoding.UTF8.GetString(frame.Ref!), Is.EqualTo("\"x1\""));
    }

    [Test]
    public void Field_names_are_matched_exactly_escaped_or_not()
    {
        var post = Parse("""{"room":"lobby","message":"hi","ref":3}""");
        Assert.That((post.Room, post.Message, post.Error), Is.EqualTo(("lobby", "hi", (FrameError?)null)));

        var escaped = Parse("""{"r\u006fom":"lobby","m\u0065ssage":"hi"}""");
        Assert.That((escaped.Room, escaped.Message, escaped.Error), Is.EqualTo(("lobby", "hi", (FrameError?)null)));

        // Near misses are unknown fields, skipped as any other.
        var near = Parse("""{"Room":"a","rooms":"b","roo":"c","message ":"d","user":"u","query":"q","next":"n"}""");
        Assert.That((near.Room, near.Message, near.User, near.Query, near.Next, near.Error), Is.EqualTo(((string?)null, (string?)null, "u", "q", "n", (FrameError?)null)));
    }

    [TestCase("""{"ref":12}""", "12")]
    [TestCase("""{"ref":"a\"b"}""", "\"a\\u0022b\"")]
    public void A_ref_is_kept_as_json(string json, string raw)
    {
        Assert.That(Encoding.UTF8.GetString(Parse(json).Ref!), Is.EqualTo(raw));
    }

    [Test]
    public void A_string_ref_is_echoed_as_the_serializer_writes_it_whether_or_not_it_is_copied_from_the_frame()
    {
        // Plain refs are copied from the frame's bytes; anything the serializer would write differently is not.
        // Each as it appears between the quotes of the frame's JSON.
        string[] refs = ["r1", "a b:c/d.e_f-g~h!", "", """a\"b""", """a\\b""", "<x>", "a&b", "it's", "1+1", "`x`", "é", """tab\there""", """\u0041""", """A\/B"""];
        foreach (var value in refs)
        {
            var json = "{\"ref\":\"" + value + "\"}";
            using var document = JsonDocument.Parse(json);
            var expected = JsonSerializer.Serialize(document.RootElement.GetProperty("ref").GetString());
            Assert.That(Encoding.UTF8.GetString(Parse(json).Ref!), Is.EqualTo(expected), json);
        }
    }

    [Test]
    public void A_known_room_is_the_known_string_and_any_other_room_is_read_as_sent()
    {
        var known = "lobby";
        Assert.That(ClientFrame.Parse("""{"room":"lobby","message":"hi"}"""u8, known).Room, Is.SameAs(known));
        Assert.That(ClientFrame.Parse("""{"room":"lobb\u0079"}"""u8, known).Room, Is.EqualTo("lobby"));
        Assert.That(ClientFrame.Parse("""{"room":"lobby2"}"""u8, known).Room, Is.EqualTo("lobby2"));
        Assert.That(ClientFrame.Parse("""{"room":"lobb"}"""u8, known).Room, Is.EqualTo("lobb"));
        Assert.That(ClientFrame.Parse("""{"room":1}"""u8, known).Error?.Code, Is.EqualTo("bad_request"));
    }

    [TestCase("nope", "invalid_json")]
    [TestCase("{\"a\":1", "invalid_json")]
    [TestCase("{}{}", "invalid_json")]
    [TestCase("[]", "bad_request")]
    [TestCase("\"text\"", "bad_request")]
    [TestCase("null", "bad_request")]
    [TestCase("{\"room\":1}", "bad_request")]
    [TestCase("{\"message\":{}}", "bad_request")]
    [TestCase("{\"before\":-1}", "bad_request")]
    [TestCase("{\"before\":1.5}", "bad_request")]
    [TestCase("{\"after\":99999999999999999999999}", "bad_request")]
    [TestCase("{\"ref\":{}}", "ref_invalid")]
    [TestCase("{\"ref\":true}", "ref_invalid")]
    [TestCase("{\"room\":1,\"ref\":[1]}", "ref_invalid")]
    public void Bad_frames_name_their_problem(string json, string code)
    {
        Assert.That(Parse(json).Error?.Code, Is.EqualTo(code));
    }

    [Test]
    public void Nesting_deeper_than_16_is_refused_without_recursion_trouble()
    {
        var deep = "{\"x\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        Assert.That(Parse(deep).Error?.Code, Is.EqualTo("invalid_json"));
    }

    [Test]
    public void The_ref_survives_a_later_type_error()
    {
        var frame = Parse("""{"ref":"r9","room":5}""");
        Assert.That(frame.Error?.Code, Is.EqualTo("bad_request"));
        Assert.That(Encoding.UTF8.GetString(frame.Ref!), Is.EqualTo("\"r9\""));
    }

    [Test]
    public void A_ref_over_256_bytes_is_refused_with_its_own_code()
    {
        var frame = Parse("{\"command\":\"ping\",\"ref\":\"" + new string('r', 257) + "\"}");
        Assert.That(frame.Error?.Code, Is.EqualTo("ref_invalid"));
        Assert.That(frame.Ref, Is.Null);
    }
}
