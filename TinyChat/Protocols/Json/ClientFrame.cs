using System.Text;
using System.Text.Json;

namespace TinyChat.Protocols.Json;

/// <summary>A protocol error caused by a client frame.</summary>
public sealed record FrameError(string Code, string Message);

/// <summary>
/// One client frame of the native protocol, parsed and type-checked (unknown fields are ignored). A struct: every post
/// is one, and as an object it was the biggest thing a post allocated.
/// </summary>
public record struct ClientFrame
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16 };

    // The fields a frame may have, most frequent first (a post: room, message, ref).
    private static readonly (string Name, byte[] Utf8)[] Fields =
        [.. new[] { "room", "message", "ref", "command", "to", "with", "before", "after", "limit", "private", "user", "id", "seconds", "topic", "role", "query", "next" }
            .Select(name => (name, Encoding.UTF8.GetBytes(name)))];

    /// <summary><c>command</c>.</summary>
    public string? Command { get; private set; }

    /// <summary><c>room</c>.</summary>
    public string? Room { get; private set; }

    /// <summary><c>message</c>: chat text.</summary>
    public string? Message { get; private set; }

    /// <summary><c>to</c>: private message recipient.</summary>
    public string? To { get; private set; }

    /// <summary><c>with</c>: the other user of a private conversation (history).</summary>
    public string? With { get; private set; }

    /// <summary><c>before</c>: history before this id.</summary>
    public long? Before { get; private set; }

    /// <summary><c>after</c>: history after this id.</summary>
    public long? After { get; private set; }

    /// <summary><c>after</c> given as a string: the user name a <c>who</c> page starts after.</summary>
    public string? AfterName { get; private set; }

    /// <summary><c>limit</c>: history size.</summary>
    public long? Limit { get; private set; }

    /// <summary><c>private</c>: create a private room.</summary>
    public bool? Private { get; private set; }

    /// <summary><c>user</c>: whom a room action is about.</summary>
    public string? User { get; private set; }

    /// <summary><c>id</c>: the message an edit or delete refers to.</summary>
    public long? Id { get; private set; }

    /// <summary><c>seconds</c>: how long a mute lasts.</summary>
    public long? Seconds { get; private set; }

    /// <summary><c>topic</c>: a room's new topic.</summary>
    public string? Topic { get; private set; }

    /// <summary><c>role</c>: <c>moderator</c> or <c>member</c>.</summary>
    public string? Role { get; private set; }

    /// <summary><c>query</c>: what to search for.</summary>
    public string? Query { get; private set; }

    /// <summary><c>next</c>: the cursor of a search's next page.</summary>
    public string? Next { get; private set; }

    /// <summary><c>ref</c> as raw JSON (a string or a number), echoed verbatim in replies.</summary>
    public byte[]? Ref { get; private set; }

    /// <summary>The first type error found, if any.</summary>
    public FrameError? Error { get; private set; }

    /// <summary>
    /// Parses a frame. Invalid JSON (or nesting deeper than 16) yields an <c>invalid_json</c> error. A <c>room</c> equal
    /// to <paramref name="knownRoom"/> (the room the connection last posted to) is that string, not a new one.
    /// </summary>
    public static ClientFrame Parse(ReadOnlySpan<byte> utf8, string? knownRoom = null)
    {
        var frame = new ClientFrame();
        try
        {
            var reader = new Utf8JsonReader(utf8, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                Drain(ref reader);
                frame.Error = new FrameError("bad_request", "a frame must be a JSON object");
                return frame;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = FieldName(ref reader);
                reader.Read();
                switch (name)
                {
                    case "command": frame.Command = frame.ReadString(ref reader, name); break;
                    case "room" when knownRoom is not null && reader.TokenType == JsonTokenType.String && reader.ValueTextEquals(knownRoom): frame.Room = knownRoom; break;
                    case "room": frame.Room = frame.ReadString(ref reader, name); break;
                    case "message": frame.Message = frame.ReadString(ref reader, name); break;
                    case "to": frame.To = frame.ReadString(ref reader, name); break;
                    case "with": frame.With = frame.ReadString(ref reader, name); break;
                    case "before": frame.Before = frame.ReadId(ref reader, name); break;
                    case "after" when reader.TokenType == JsonTokenType.String: frame.AfterName = reader.GetString(); break;
                    case "after": frame.After = frame.ReadId(ref reader, name); break;
                    case "limit": frame.Limit = frame.ReadId(ref reader, name); break;
                    case "ref": frame.ReadRef(ref reader); break;
                    case "private": frame.Private = frame.ReadBool(ref reader, name); break;
                    case "user": frame.User = frame.ReadString(ref reader, name); break;
                    case "id": frame.Id = frame.ReadId(ref reader, name); break;
                    case "seconds": frame.Seconds = frame.ReadId(ref reader, name); break;
                    case "topic": frame.Topic = frame.ReadString(ref reader, name); break;
                    case "role": frame.Role = frame.ReadString(ref reader, name); break;
                    case "query": frame.Query = frame.ReadString(ref reader, name); break;
                    case "next": frame.Next = frame.ReadString(ref reader, name); break;
                    default: reader.Skip(); break;
                }
            }

            Drain(ref reader);
        }
        catch (JsonException)
        {
            return new ClientFrame { Error = new FrameError("invalid_json", "frame is not valid JSON"), Ref = frame.Ref };
        }

        return frame;
    }

    // Every frame names its fields: the known ones are matched on their bytes (a post has three: no string made for
    // any of them); an escaped or unknown name is read as it is.
    private static string? FieldName(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            return reader.GetString();
        }

        var name = reader.ValueSpan;
        foreach (var field in Fields)
        {
            if (name.SequenceEqual(field.Utf8))
            {
                return field.Name;
            }
        }

        return null;
    }

    private static void Drain(ref Utf8JsonReader reader)
    {
        // Trailing content after the object ("{}{}", "{} x") is invalid JSON too.
        if (reader.Read())
        {
            throw new JsonException("trailing content");
        }
    }

    private string? ReadString(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }

        if (reader.TokenType != JsonTokenType.Null)
        {
            Error ??= new FrameError("bad_request", $"field \"{field}\" must be a string");
        }

        reader.Skip();
        return null;
    }

    private bool? ReadBool(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
        {
            return reader.GetBoolean();
        }

        if (reader.TokenType != JsonTokenType.Null)
        {
            Error ??= new FrameError("bad_request", $"field \"{field}\" must be true or false");
        }

        reader.Skip();
        return null;
    }

    private long? ReadId(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= 0)
        {
            return value;
        }

        if (reader.TokenType != JsonTokenType.Null)
        {
            Error ??= new FrameError("bad_request", $"field \"{field}\" must be a non-negative integer");
        }

        reader.Skip();
        return null;
    }

    // A plain ASCII ref that the serializer would write back unchanged (nothing it escapes: controls, quotes,
    // backslashes, the HTML-sensitive <>&'+` and non-ASCII) is echoed from its bytes without the two strings.
    private static bool EchoesAsWritten(ref Utf8JsonReader reader) =>
        !reader.ValueIsEscaped && !reader.HasValueSequence && !reader.ValueSpan.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E)
        && !reader.ValueSpan.ContainsAny("\"\\<>&'+`"u8);

    private static byte[] Quoted(ReadOnlySpan<byte> value)
    {
        var bytes = new byte[value.Length + 2];
        bytes[0] = (byte)'"';
        value.CopyTo(bytes.AsSpan(1));
        bytes[^1] = (byte)'"';
        return bytes;
    }

    private void ReadRef(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String when reader.ValueSpan.Length <= 256:
                Ref = EchoesAsWritten(ref reader) ? Quoted(reader.ValueSpan) : Encoding.UTF8.GetBytes(JsonSerializer.Serialize(reader.GetString(), JsonSerializerOptions.Default));
                break;
            case JsonTokenType.Number when reader.ValueSpan.Length <= 32:
                Ref = reader.ValueSpan.ToArray();
                break;
            default:
                // The ref cannot be echoed, so the error says so by its own code: a client correlates by it.
                Error = new FrameError("ref_invalid", "field \"ref\" must be a string of at most 256 bytes or a number; the frame was not handled");
                reader.Skip();
                break;
        }
    }
}
