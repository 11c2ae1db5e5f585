using System.Text.Json;

namespace TinyChat.Protocols.Phoenix;

/// <summary>
/// One message from a phoenix.js client. Parsing keeps what it could read (refs, topic) even when the message is
/// bad, so the error reply still reaches the push that caused it.
/// </summary>
public sealed class PhoenixPush
{
    private PhoenixPush()
    {
    }

    /// <summary>The channel join this push belongs to (null for the socket's own pushes).</summary>
    public string? JoinRef { get; private init; }

    /// <summary>The push's reference, echoed in its reply.</summary>
    public string? Ref { get; private init; }

    /// <summary>The topic, e.g. <c>room:default</c>.</summary>
    public string Topic { get; private init; } = PhoenixTopics.Socket;

    /// <summary>The event, e.g. <c>phx_join</c>, <c>new_msg</c>.</summary>
    public string Event { get; private init; } = "";

    /// <summary>The payload (an object, or Undefined when the message had none).</summary>
    public JsonElement Payload { get; private init; }

    /// <summary>Why the message is not a valid push, or null.</summary>
    public string? Error { get; private init; }

    /// <summary>Reads one text frame in the serializer of <paramref name="version"/>.</summary>
    public static PhoenixPush Parse(PhoenixVersion version, ReadOnlyMemory<byte> utf8)
    {
        // A WebSocket has checked this already (1007 otherwise); a long-poll batch has not.
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span))
        {
            return new PhoenixPush { Error = "the message is not valid UTF-8" };
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException)
        {
            return new PhoenixPush { Error = "the message is not valid JSON" };
        }

        // The payload is cloned out of the document so the document's pooled memory goes back at once.
        using (document)
        {
            var root = document.RootElement;
            return version == PhoenixVersion.V2 ? FromArray(root) : FromObject(root);
        }
    }

    /// <summary>A string field of the payload, or null.</summary>
    public string? PayloadString(string name) =>
        Payload.ValueKind == JsonValueKind.Object && Payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A whole-number field of the payload (a number or a numeric string), or null.</summary>
    public long? PayloadNumber(string name)
    {
        if (Payload.ValueKind != JsonValueKind.Object || !Payload.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var n) => n,
            JsonValueKind.String when long.TryParse(value.GetString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        };
    }

    /// <summary>Whether the payload has the field (with any value but null).</summary>
    public bool Has(string name) =>
        Payload.ValueKind == JsonValueKind.Object && Payload.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>Whether a boolean field of the payload is true.</summary>
    public bool PayloadFlag(string name) =>
        Payload.ValueKind == JsonValueKind.Object && Payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static PhoenixPush FromArray(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() != 5)
        {
            return new PhoenixPush { Error = "vsn 2.0.0 messages are arrays [join_ref, ref, topic, event, payload]" };
        }

        return Build(root[0], root[1], root[2], root[3], root[4]);
    }

    private static PhoenixPush FromObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return new PhoenixPush { Error = "vsn 1.0.0 messages are objects {topic, event, payload, ref}" };
        }

        JsonElement Field(string name) => root.TryGetProperty(name, out var value) ? value : default;
        return Build(Field("join_ref"), Field("ref"), Field("topic"), Field("event"), Field("payload"));
    }

    private static PhoenixPush Build(JsonElement joinRef, JsonElement reference, JsonElement topic, JsonElement eventName, JsonElement payload)
    {
        var refs = (Join: RefText(joinRef), Ref: RefText(reference));
        var topicText = topic.ValueKind == JsonValueKind.String ? topic.GetString()! : null;
        string? error = null;
        if (topicText is null)
        {
            error = "topic must be a string";
        }
        else if (eventName.ValueKind != JsonValueKind.String)
        {
            error = "event must be a string";
        }
        else if (payload.ValueKind is not (JsonValueKind.Object or JsonValueKind.Undefined or JsonValueKind.Null))
        {
            error = "payload must be an object";
        }

        return new PhoenixPush
        {
            JoinRef = refs.Join,
            Ref = refs.Ref,
            Topic = topicText ?? PhoenixTopics.Socket,
            Event = eventName.ValueKind == JsonValueKind.String ? eventName.GetString()! : "",
            Payload = payload.ValueKind == JsonValueKind.Object ? payload.Clone() : default,
            Error = error,
        };
    }

    // phoenix.js sends refs as strings; a number is accepted and answered as its text.
    private static string? RefText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        _ => null,
    };
}
