using System.Buffers.Text;
using System.Net.WebSockets;
using System.Text.Json;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Protocols.Json;

/// <summary>Per-connection frame rate: sustained rate, burst, and how many refusals in a row count as a flood.</summary>
public sealed record FrameLimits(double FramesPerSecond, double FrameBurst, int FloodDisconnectAfter);

/// <summary>
/// The native JSON protocol on one connection: turns client frames into chat commands and answers each with a
/// reply or an error that carries the frame's <c>ref</c>. Frames are handled one at a time, in order.
/// </summary>
public sealed class JsonChatProtocol(ChatClient client, WebSocketConnection connection, FrameLimits limits) : IFrameHandler
{
    private readonly TokenBucket? frameBudget = limits.FramesPerSecond > 0 ? new TokenBucket(limits.FramesPerSecond, limits.FrameBurst) : null;
    private static readonly byte[] RefKey = ",\"ref\":"u8.ToArray();
    private int refusedInARow;

    // The start of an acknowledgement in the room this connection last posted to; replaced whole, read from room loops.
    private AckPrefix ackPrefix = new("", []);

    /// <inheritdoc />
    public async ValueTask OnTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken)
    {
        if (frameBudget is not null && !frameBudget.TryTake())
        {
            Refuse(null);
            return;
        }

        var frame = ClientFrame.Parse(utf8.Span, ackPrefix.Room);
        if (frame.Message is null)
        {
            Interlocked.Exchange(ref refusedInARow, 0);
        }

        if (frame.Error is { } frameError)
        {
            SendError(frameError.Code, frameError.Message, frame.Ref);
            return;
        }

        if (frame.Command is { } command)
        {
            await HandleCommandAsync(command, frame, cancellationToken).ConfigureAwait(false);
        }
        else if (frame.Message is { } text)
        {
            await HandleMessageAsync(frame, text, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            SendError("bad_request", "a frame needs \"command\", or \"message\" with \"room\" or \"to\"", frame.Ref);
        }
    }

    /// <inheritdoc />
    public ValueTask OnBinaryAsync(CancellationToken cancellationToken)
    {
        SendError("binary_not_supported", "binary frames are not supported; send JSON text frames", null);
        return ValueTask.CompletedTask;
    }

    private async Task HandleMessageAsync(ClientFrame frame, string text, CancellationToken cancellationToken)
    {
        if (frame.Room is { } room)
        {
            // Pipelined: the next frame is read as soon as this post is queued in the room's mailbox, so a client
            // with several posts in flight lets the room commit them in one batch. Order is the mailbox's order.
            // Acknowledged by the room's loop as it broadcasts the post's batch (RoomAcknowledgement), so the
            // acknowledgements of a batch are queued right behind it and usually leave in the same write.
            if (await client.QueueToRoomAsync(room, text, new RoomAcknowledgement(this, room, frame.Ref), cancellationToken).ConfigureAwait(false) is { } refused)
            {
                SendError(refused, frame.Ref);
            }

            return;
        }

        if (frame.To is { } to)
        {
            await AcknowledgeAsync(client.SendPrivateAsync(to, text, cancellationToken), "to", to, frame.Ref).ConfigureAwait(false);
            return;
        }

        SendError("bad_request", "a message needs \"room\" or \"to\"", frame.Ref);
    }

    // {"ok":true,"room":R,"id":N,"ref":REF}, as Send would write it, from the room's part encoded once per room.
    private void AcknowledgeRoomPost(string room, long id, byte[] reference)
    {
        var prefix = ackPrefix;
        if (!string.Equals(prefix.Room, room, StringComparison.Ordinal))
        {
            // Static, from a state: a lambda capturing the parameter would be allocated on every call, not only here.
            prefix = new(room, JsonEventEncoder.Build(room, static (w, room) =>
            {
                w.WriteStartObject();
                w.WriteBoolean("ok", true);
                w.WriteString("room", room);
                w.WritePropertyName("id");
            }));
            ackPrefix = prefix;
        }

        Span<byte> number = stackalloc byte[20];
        Utf8Formatter.TryFormat(id, number, out var digits);
        var bytes = new byte[prefix.Bytes.Length + digits + RefKey.Length + reference.Length + 1];
        var at = 0;
        prefix.Bytes.CopyTo(bytes, at);
        at += prefix.Bytes.Length;
        number[..digits].CopyTo(bytes.AsSpan(at));
        at += digits;
        RefKey.CopyTo(bytes.AsSpan(at));
        at += RefKey.Length;
        reference.CopyTo(bytes, at);
        bytes[^1] = (byte)'}';
        connection.TryDeliver(new Reply(bytes));
    }

    private async Task AcknowledgeAsync(Task<Outcome<long>> durable, string field, string target, byte[]? reference)
    {
        var sent = await durable.ConfigureAwait(false);
        if (sent.Error is { } error)
        {
            SendError(error, reference);
            return;
        }

        Interlocked.Exchange(ref refusedInARow, 0);
        if (reference is not null)
        {
            // The echo (the broadcast) is the acknowledgement; a ref asks for an explicit one as well.
            Send(reference, w =>
            {
                w.WriteBoolean("ok", true);
                w.WriteString(field, target);
                w.WriteNumber("id", sent.Value);
            });
        }
    }

    private async Task HandleCommandAsync(string command, ClientFrame frame, CancellationToken cancellationToken)
    {
        switch (command)
        {
            case "join":
                // The reply and then the greeting are queued by the room's loop once the join is durable (one trip
                // through the room), so no presence change announced after the join overtakes them.
                var joinedRoom = frame.Room ?? ChatNames.DefaultRoom;
                var joined = await client.JoinAsync(
                    frame.Room,
                    (welcome, details) => Send(frame.Ref, w =>
                    {
                        w.WriteString("room", joinedRoom);
                        w.WriteString("message", welcome);
                        JsonEventEncoder.WriteRoomDetails(w, details, full: false);
                    }),
                    cancellationToken).ConfigureAwait(false);
                if (joined.Error is { } refused)
                {
                    SendError(refused, frame.Ref);
                }

                break;
            case "who":
                if (RequireField(frame.Room, "room", frame) is { } whoRoom)
                {
                    await WhoAsync(whoRoom, frame, cancellationToken).ConfigureAwait(false);
                }

                break;
            case "typing":
                var typingError = frame.Room is { } typingRoom ? await client.TypingAsync(typingRoom, cancellationToken).ConfigureAwait(false)
                    : frame.To is { } typingTo ? client.TypingTo(typingTo)
                    : new ChatError("bad_request", "typing needs \"room\" or \"to\"");
                if (typingError is not null)
                {
                    SendError(typingError, frame.Ref);
                }

                break;
            case "create":
                if (RequireField(frame.Room, "room", frame) is { } createRoom)
                {
                    var created = await client.CreateAsync(createRoom, frame.Private ?? false, cancellationToken).ConfigureAwait(false);
                    Reply(created, frame.Ref, w => w.WriteString("success", $"{createRoom} has been created!"));
                }

                break;
            case "leave":
                if (RequireField(frame.Room, "room", frame) is { } leaveRoom)
                {
                    var left = await client.LeaveAsync(leaveRoom, cancellationToken).ConfigureAwait(false);
                    Reply(left, frame.Ref, w =>
                    {
                        w.WriteString("success", $"you have left {leaveRoom}");
                        w.WriteString("room", leaveRoom);
                    });
                }

                break;
            case "rooms":
                var rooms = await client.RoomsAsync(cancellationToken).ConfigureAwait(false);
                var summaries = rooms.Value is { } list ? await client.RoomSummariesAsync(list.All, cancellationToken).ConfigureAwait(false) : [];
                var reading = rooms.Value is { } joinedList ? await client.ReadStatesAsync(joinedList.Joined, cancellationToken).ConfigureAwait(false) : [];
                var readingByRoom = reading.ToDictionary(r => r.Room, StringComparer.Ordinal);
                Reply(rooms.Error, frame.Ref, w =>
                {
                    WriteStrings(w, "rooms", rooms.Value!.All);
                    WriteStrings(w, "joined", rooms.Value.Joined);
                    w.WriteStartArray("details");
                    foreach (var summary in summaries)
                    {
                        w.WriteStartObject();
                        w.WriteString("room", summary.Room);
                        w.WriteNumber("members", summary.Members);
                        w.WriteNumber("online", summary.Online);
                        if (readingByRoom.TryGetValue(summary.Room, out var state))
                        {
                            w.WriteNumber("last_read", state.LastRead);
                            w.WriteNumber("unread", state.Unread);
                            w.WriteNumber("mentions", state.Mentions);
                        }

                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                break;
            case "whoami":
                Send(frame.Ref, w =>
                {
                    w.WriteString("username", client.User);
                    w.WriteString("node", client.Node);
                });
                break;
            case "ping":
                Send(frame.Ref, w => w.WriteBoolean("pong", true));
                break;
            case "history":
                await HandleHistoryAsync(frame, cancellationToken).ConfigureAwait(false);
                break;
            case "info":
                if (RequireField(frame.Room, "room", frame) is { } infoRoom)
                {
                    var details = await client.DescribeAsync(infoRoom, cancellationToken).ConfigureAwait(false);
                    Reply(details.Error, frame.Ref, w =>
                    {
                        w.WriteString("room", infoRoom);
                        JsonEventEncoder.WriteRoomDetails(w, details.Value!, full: true);
                    });
                }

                break;
            case "invite" or "kick" or "ban" or "unban" or "mute" or "unmute" or "role":
                if (RequireField(frame.Room, "room", frame) is { } actRoom && RequireField(frame.User, "user", frame) is { } user)
                {
                    var acted = command switch
                    {
                        "invite" => await client.InviteAsync(actRoom, user, cancellationToken).ConfigureAwait(false),
                        "kick" => await client.KickAsync(actRoom, user, cancellationToken).ConfigureAwait(false),
                        "ban" => await client.BanAsync(actRoom, user, cancellationToken).ConfigureAwait(false),
                        "unban" => await client.UnbanAsync(actRoom, user, cancellationToken).ConfigureAwait(false),
                        "mute" => await client.MuteAsync(actRoom, user, TimeSpan.FromSeconds(Math.Min(frame.Seconds ?? 600, (long)ChatClient.MaxMute.TotalSeconds + 1)), cancellationToken).ConfigureAwait(false),
                        "unmute" => await client.UnmuteAsync(actRoom, user, cancellationToken).ConfigureAwait(false),
                        _ => frame.Role switch
                        {
                            "moderator" => await client.SetRoleAsync(actRoom, user, RoomRole.Moderator, cancellationToken).ConfigureAwait(false),
                            "member" => await client.SetRoleAsync(actRoom, user, RoomRole.Member, cancellationToken).ConfigureAwait(false),
                            _ => new ChatError("bad_request", "command \"role\" needs \"role\": \"moderator\" or \"member\""),
                        },
                    };
                    ReplyDone(acted, actRoom, frame.Ref);
                }

                break;
            case "topic":
                if (RequireField(frame.Room, "room", frame) is { } topicRoom && RequireField(frame.Topic, "topic", frame) is { } topic)
                {
                    ReplyDone(await client.SetTopicAsync(topicRoom, topic, cancellationToken).ConfigureAwait(false), topicRoom, frame.Ref);
                }

                break;
            case "delete_room":
                if (RequireField(frame.Room, "room", frame) is { } doomed)
                {
                    var deleted = await client.DeleteRoomAsync(doomed, cancellationToken).ConfigureAwait(false);
                    Reply(deleted, frame.Ref, w =>
                    {
                        w.WriteBoolean("ok", true);
                        w.WriteString("room", doomed);
                    });
                }

                break;
            case "edit" or "delete":
                if (RequireField(frame.Room, "room", frame) is { } editRoom)
                {
                    if (frame.Id is not { } messageId)
                    {
                        SendError("bad_request", $"command \"{command}\" needs a field \"id\": the message's id", frame.Ref);
                    }
                    else if (command == "delete")
                    {
                        ReplyDone(await client.DeleteAsync(editRoom, messageId, cancellationToken).ConfigureAwait(false), editRoom, frame.Ref);
                    }
                    else if (RequireField(frame.Message, "message", frame) is { } newText)
                    {
                        ReplyDone(await client.EditAsync(editRoom, messageId, newText, cancellationToken).ConfigureAwait(false), editRoom, frame.Ref);
                    }
                }

                break;
            case "read":
                await HandleReadAsync(frame, cancellationToken).ConfigureAwait(false);
                break;
            case "conversations":
                var conversations = await client.ConversationsAsync((int)Math.Min(frame.Limit ?? 50, ChatClient.MaxConversations), cancellationToken).ConfigureAwait(false);
                Reply(conversations.Error, frame.Ref, w =>
                {
                    w.WriteStartArray("conversations");
                    foreach (var conversation in conversations.Value!)
                    {
                        w.WriteStartObject();
                        w.WriteString("with", conversation.With);
                        w.WriteNumber("last_id", conversation.LastId);
                        w.WriteString("ts", JsonEventEncoder.Timestamp(conversation.LastAt));
                        w.WriteNumber("last_read", conversation.LastRead);
                        w.WriteNumber("unread", conversation.Unread);
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                break;
            case "search":
                await HandleSearchAsync(frame, cancellationToken).ConfigureAwait(false);
                break;
            default:
                SendError("unknown_command", $"unknown command \"{Truncate(command)}\"", frame.Ref);
                break;
        }
    }

    private async Task HandleHistoryAsync(ClientFrame frame, CancellationToken cancellationToken)
    {
        if (frame.Before is not null && frame.After is not null)
        {
            SendError("bad_request", "give \"before\" or \"after\", not both", frame.Ref);
            return;
        }

        if (frame.Limit is 0)
        {
            SendError("bad_request", "field \"limit\" must be at least 1", frame.Ref);
            return;
        }

        var query = new HistoryQuery(frame.Before, frame.After, (int)Math.Min(frame.Limit ?? 50, ChatClient.MaxHistoryLimit));
        if (frame.Room is { } room)
        {
            var page = await client.RoomHistoryAsync(room, query, cancellationToken).ConfigureAwait(false);
            Reply(page.Error, frame.Ref, w =>
            {
                w.WriteString("room", room);
                w.WriteStartArray("history");
                foreach (var message in page.Value!)
                {
                    JsonEventEncoder.WriteRoomMessage(w, message);
                }

                w.WriteEndArray();
            });
        }
        else if (frame.With is { } with)
        {
            var page = await client.PrivateHistoryAsync(with, query, cancellationToken).ConfigureAwait(false);
            Reply(page.Error, frame.Ref, w =>
            {
                w.WriteString("with", with);
                w.WriteStartArray("history");
                foreach (var message in page.Value!)
                {
                    JsonEventEncoder.WritePrivateMessage(w, message);
                }

                w.WriteEndArray();
            });
        }
        else
        {
            SendError("bad_request", "history needs \"room\" or \"with\"", frame.Ref);
        }
    }

    private async Task HandleReadAsync(ClientFrame frame, CancellationToken cancellationToken)
    {
        if (frame.Id is not { } id)
        {
            SendError("bad_request", "command \"read\" needs a field \"id\": the last message read", frame.Ref);
            return;
        }

        var marked = frame.Room is { } room ? await client.MarkRoomReadAsync(room, id, cancellationToken).ConfigureAwait(false)
            : frame.With is { } with ? await client.MarkPrivateReadAsync(with, id, cancellationToken).ConfigureAwait(false)
            : new ChatError("bad_request", "read needs \"room\" or \"with\"");
        Reply(marked.Error, frame.Ref, w =>
        {
            w.WritePropertyName("read");
            JsonEventEncoder.WriteRead(w, marked.Value!);
        });
    }

    private async Task HandleSearchAsync(ClientFrame frame, CancellationToken cancellationToken)
    {
        if (frame.Limit is 0)
        {
            SendError("bad_request", "field \"limit\" must be at least 1", frame.Ref);
            return;
        }

        var found = await client.SearchAsync(frame.Query, frame.Room, frame.Next, (int)Math.Min(frame.Limit ?? 20, ChatClient.MaxSearchLimit), cancellationToken).ConfigureAwait(false);
        Reply(found.Error, frame.Ref, w =>
        {
            w.WriteString("query", frame.Query);
            w.WriteStartArray("results");
            foreach (var hit in found.Value!.Hits)
            {
                // The message in exactly the shape history has, then where the words are in its text.
                w.WriteStartObject();
                w.WritePropertyName("message");
                if (hit.Room is { } roomMessage)
                {
                    JsonEventEncoder.WriteRoomMessage(w, roomMessage);
                }
                else
                {
                    JsonEventEncoder.WritePrivateMessage(w, hit.Private!);
                }

                w.WriteStartArray("marks");
                foreach (var (start, length) in hit.Marks)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(start);
                    w.WriteNumberValue(length);
                    w.WriteEndArray();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (found.Value.Next is { } next)
            {
                w.WriteString("next", next);
            }
            else
            {
                w.WriteNull("next");
            }
        });
    }

    // Everyone in a room small enough to list; otherwise (or when "after" or "limit" is given) one page of names.
    private async Task WhoAsync(string room, ClientFrame frame, CancellationToken cancellationToken)
    {
        if (frame.After is not null)
        {
            SendError("bad_request", "field \"after\" of who must be a user name (a string)", frame.Ref);
            return;
        }

        if (frame.Limit is 0)
        {
            SendError("bad_request", "field \"limit\" must be at least 1", frame.Ref);
            return;
        }

        var presence = frame.AfterName is null && frame.Limit is null
            ? await client.WhoAsync(room, cancellationToken).ConfigureAwait(false)
            : await client.WhoAsync(room, frame.AfterName, (int)Math.Min(frame.Limit ?? RoomProcess.MaxWhoPage, RoomProcess.MaxWhoPage), cancellationToken).ConfigureAwait(false);
        if (presence.Error is { } error)
        {
            SendError(error, frame.Ref);
            return;
        }

        connection.TryDeliver(new Reply(JsonEventEncoder.Build(w => JsonEventEncoder.WritePresenceState(w, presence.Value!, frame.Ref))));
    }

    private void ReplyDone(Outcome<long> done, string room, byte[]? reference) => Reply(done.Error, reference, w =>
    {
        w.WriteBoolean("ok", true);
        w.WriteString("room", room);
        w.WriteNumber("id", done.Value);
    });

    private string? RequireField(string? value, string field, ClientFrame frame)
    {
        if (value is null)
        {
            SendError("bad_request", $"command \"{frame.Command}\" needs a string field \"{field}\"", frame.Ref);
        }

        return value;
    }

    private void Reply(ChatError? error, byte[]? reference, Action<Utf8JsonWriter> writeFields)
    {
        if (error is not null)
        {
            SendError(error, reference);
        }
        else
        {
            Send(reference, writeFields);
        }
    }

    private void Refuse(byte[]? reference)
    {
        ChatMetrics.RateLimitedFrames.Add(1, ChatMetrics.Protocol("json"));
        if (Interlocked.Increment(ref refusedInARow) >= limits.FloodDisconnectAfter)
        {
            ChatMetrics.Disconnects.Add(1, ChatMetrics.Reason("flood"));
            connection.Close(WebSocketCloseStatus.PolicyViolation, "flooding: too many frames over the rate limit", drain: false);
            return;
        }

        var limited = ChatError.RateLimited();
        SendError(limited.Code, limited.Message, reference);
    }

    private void SendError(ChatError error, byte[]? reference)
    {
        if (error.Code == "rate_limited")
        {
            Refuse(reference);
            return;
        }

        SendError(error.Code, error.Message, reference);
    }

    private void SendError(string code, string message, byte[]? reference) => Send(reference, w =>
    {
        w.WriteString("error", message);
        w.WriteString("code", code);
    });

    private void Send(byte[]? reference, Action<Utf8JsonWriter> writeFields)
    {
        var bytes = JsonEventEncoder.Build(w =>
        {
            w.WriteStartObject();
            writeFields(w);
            if (reference is not null)
            {
                w.WritePropertyName("ref");
                w.WriteRawValue(reference, skipInputValidation: true);
            }

            w.WriteEndObject();
        });
        connection.TryDeliver(new Reply(bytes));
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "…";

    private sealed record AckPrefix(string Room, byte[] Bytes);

    // A post's outcome, heard on the room's loop: an acknowledgement (when the frame had a ref) or the refusal.
    private sealed class RoomAcknowledgement(JsonChatProtocol protocol, string room, byte[]? reference) : IPostReceipt
    {
        public void Settled(Outcome<long> outcome)
        {
            if (outcome.Error is { } error)
            {
                protocol.SendError(error, reference);
                return;
            }

            Interlocked.Exchange(ref protocol.refusedInARow, 0);
            if (reference is not null)
            {
                // The echo (the broadcast) is the acknowledgement; a ref asks for an explicit one as well.
                protocol.AcknowledgeRoomPost(room, outcome.Value, reference);
            }
        }
    }
}
