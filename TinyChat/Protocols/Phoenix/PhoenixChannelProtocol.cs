using System.Text.Json;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Protocols.Phoenix;

/// <summary>
/// Phoenix Channels on one socket: turns phoenix.js pushes into chat commands and answers each with a
/// <c>phx_reply</c> carrying the push's refs. Pushes are handled one at a time, in order; posts are pipelined
/// (the reply comes once the message is durable). Bad input is answered with an error reply; the socket stays up.
/// </summary>
public sealed class PhoenixChannelProtocol(ChatClient client, PhoenixSubscriptions subscriptions, IPhoenixLink link, PhoenixVersion version, FrameLimits limits)
    : IFrameHandler
{
    private static readonly Action<Utf8JsonWriter> Empty = w =>
    {
        w.WriteStartObject();
        w.WriteEndObject();
    };

    private readonly PhoenixEventEncoder encoder = PhoenixEventEncoder.For(version);
    private readonly TokenBucket? frameBudget = limits.FramesPerSecond > 0 ? new TokenBucket(limits.FramesPerSecond, limits.FrameBurst) : null;
    private int refusedInARow;

    /// <inheritdoc />
    public async ValueTask OnTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken)
    {
        var push = PhoenixPush.Parse(version, utf8);
        if (frameBudget is not null && !frameBudget.TryTake())
        {
            Refuse(push);
            return;
        }

        if (push.Event != "new_msg")
        {
            Interlocked.Exchange(ref refusedInARow, 0);
        }

        if (push.Error is { } malformed)
        {
            ReplyError(push, "malformed_message", malformed);
            return;
        }

        if (push.Topic == PhoenixTopics.Socket)
        {
            if (push.Event == "heartbeat")
            {
                ReplyOk(push, Empty);
            }
            else
            {
                ReplyError(push, "unknown_event", $"the phoenix topic takes only heartbeat, not \"{Truncate(push.Event)}\"");
            }

            return;
        }

        if (push.Topic.StartsWith(PhoenixTopics.RoomPrefix, StringComparison.Ordinal))
        {
            await HandleRoomAsync(push, push.Topic[PhoenixTopics.RoomPrefix.Length..], cancellationToken).ConfigureAwait(false);
        }
        else if (push.Topic.StartsWith(PhoenixTopics.UserPrefix, StringComparison.Ordinal))
        {
            await HandleUserAsync(push, push.Topic[PhoenixTopics.UserPrefix.Length..], cancellationToken).ConfigureAwait(false);
        }
        else
        {
            Unmatched(push);
        }
    }

    /// <inheritdoc />
    public ValueTask OnBinaryAsync(CancellationToken cancellationToken)
    {
        // A binary push has its refs in a header we do not read; the push times out on the client.
        return ValueTask.CompletedTask;
    }

    private async Task HandleRoomAsync(PhoenixPush push, string room, CancellationToken cancellationToken)
    {
        if (push.Event == "phx_join")
        {
            await JoinRoomAsync(push, room, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!subscriptions.HasRoom(room))
        {
            if (push.Event == "phx_leave")
            {
                ReplyOk(push, Empty);
            }
            else
            {
                Unmatched(push);
            }

            return;
        }

        switch (push.Event)
        {
            case "phx_leave":
                subscriptions.RemoveRoom(room);
                ReplyOk(push, Empty);
                break;
            case "new_msg":
                if (RequireString(push, "body") is { } body)
                {
                    // Pipelined: the next push is read as soon as this post is queued in the room's mailbox.
                    var queued = await client.QueueToRoomAsync(room, body, cancellationToken).ConfigureAwait(false);
                    if (queued.Error is { } refused)
                    {
                        ReplyError(push, refused);
                        return;
                    }

                    _ = AcknowledgeAsync(push, queued.Value!);
                }

                break;
            case "typing":
                Reply(push, await client.TypingAsync(room, cancellationToken).ConfigureAwait(false), Empty);
                break;
            case "who":
                await WhoAsync(push, room, cancellationToken).ConfigureAwait(false);
                break;
            case "history":
                if (Query(push) is { } query)
                {
                    var page = await client.RoomHistoryAsync(room, query, cancellationToken).ConfigureAwait(false);
                    Reply(push, page.Error, w => WriteMessages(w, page.Value!, PhoenixEventEncoder.WriteRoomMessage));
                }

                break;
            case "topic":
                if (RequireString(push, "topic") is { } topic)
                {
                    ReplyActed(push, await client.SetTopicAsync(room, topic, cancellationToken).ConfigureAwait(false));
                }

                break;
            case "invite" or "kick" or "ban" or "unban" or "mute" or "unmute" or "role":
                await ActOnUserAsync(push, room, cancellationToken).ConfigureAwait(false);
                break;
            case "edit":
                if (RequireMessageId(push) is { } edited && RequireString(push, "body") is { } text)
                {
                    ReplyActed(push, await client.EditAsync(room, edited, text, cancellationToken).ConfigureAwait(false));
                }

                break;
            case "delete":
                if (RequireMessageId(push) is { } deleted)
                {
                    ReplyActed(push, await client.DeleteAsync(room, deleted, cancellationToken).ConfigureAwait(false));
                }

                break;
            case "leave":
                // Leaving for good: the user stops being a member; phoenix.js then leaves the channel.
                var left = await client.LeaveAsync(room, cancellationToken).ConfigureAwait(false);
                if (left is null)
                {
                    subscriptions.RemoveRoom(room);
                }

                Reply(push, left, Empty);
                break;
            default:
                ReplyError(push, "unknown_event", $"unknown event \"{Truncate(push.Event)}\" on {Truncate(push.Topic)}");
                break;
        }
    }

    // One page of who is online, in Presence's shape, with how many in all and the next page's cursor.
    private async Task WhoAsync(PhoenixPush push, string room, CancellationToken cancellationToken)
    {
        var after = push.PayloadString("after");
        var limit = push.PayloadNumber("limit");
        if ((push.Has("after") && after is null) || (push.Has("limit") && limit is not >= 1))
        {
            ReplyError(push, "bad_request", "after is a user name, limit a whole number >= 1");
            return;
        }

        var page = await client.WhoAsync(room, after, (int)Math.Min(limit ?? RoomProcess.MaxWhoPage, RoomProcess.MaxWhoPage), cancellationToken).ConfigureAwait(false);
        Reply(push, page.Error, w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("presences");
            PhoenixEventEncoder.WritePresences(w, page.Value!.Online);
            w.WriteNumber("online", page.Value.Total);
            if (page.Value.Next is { } next)
            {
                w.WriteString("next", next);
            }
            else
            {
                w.WriteNull("next");
            }

            w.WriteEndObject();
        });
    }

    private async Task ActOnUserAsync(PhoenixPush push, string room, CancellationToken cancellationToken)
    {
        if (RequireString(push, "user") is not { } user)
        {
            return;
        }

        var seconds = push.PayloadNumber("seconds");
        if (push.Has("seconds") && (push.Event != "mute" || seconds is not > 0))
        {
            ReplyError(push, "bad_request", "seconds is a whole number >= 1, for mute only");
            return;
        }

        var role = push.PayloadString("role");
        if (push.Event == "role" ? role is not ("moderator" or "member") : push.Has("role"))
        {
            ReplyError(push, "bad_request", "role is \"moderator\" or \"member\", for role only");
            return;
        }

        var acted = push.Event switch
        {
            "invite" => await client.InviteAsync(room, user, cancellationToken).ConfigureAwait(false),
            "kick" => await client.KickAsync(room, user, cancellationToken).ConfigureAwait(false),
            "ban" => await client.BanAsync(room, user, cancellationToken).ConfigureAwait(false),
            "unban" => await client.UnbanAsync(room, user, cancellationToken).ConfigureAwait(false),
            "mute" => await client.MuteAsync(room, user, TimeSpan.FromSeconds(Math.Min(seconds ?? 600, (long)ChatClient.MaxMute.TotalSeconds + 1)), cancellationToken).ConfigureAwait(false),
            "unmute" => await client.UnmuteAsync(room, user, cancellationToken).ConfigureAwait(false),
            _ => await client.SetRoleAsync(room, user, role == "moderator" ? RoomRole.Moderator : RoomRole.Member, cancellationToken).ConfigureAwait(false),
        };
        ReplyActed(push, acted);
    }

    private long? RequireMessageId(PhoenixPush push)
    {
        var id = push.PayloadNumber("id");
        if (id is not >= 0)
        {
            ReplyError(push, "bad_request", $"{push.Event} needs \"id\": the message's id");
            return null;
        }

        return id;
    }

    // A room action's reply: the stored event's id in the room's order (the event itself arrives as room_event).
    private void ReplyActed(PhoenixPush push, Outcome<long> acted) => Reply(push, acted.Error, w =>
    {
        w.WriteStartObject();
        w.WriteNumber("id", acted.Value);
        w.WriteEndObject();
    });

    private async Task JoinRoomAsync(PhoenixPush push, string room, CancellationToken cancellationToken)
    {
        var lastId = push.PayloadNumber("last_id");
        if (push.Has("last_id") && lastId is not >= 0)
        {
            ReplyError(push, "bad_request", "last_id must be a whole number >= 0");
            return;
        }

        // Held back from here: whatever the room sends while we reply and catch up goes out after, in order.
        subscriptions.BeginRoomJoin(room, push.JoinRef);
        var joined = await client.JoinAsync(room, cancellationToken).ConfigureAwait(false);
        if (joined.Error is { Code: "room_not_found" } && push.PayloadFlag("create"))
        {
            var created = await client.CreateAsync(room, push.PayloadFlag("private"), cancellationToken).ConfigureAwait(false);
            joined = created is null or { Code: "room_exists" } ? await client.JoinAsync(room, cancellationToken).ConfigureAwait(false) : created;
        }

        if (joined.Error is { Code: not "already_joined" } error)
        {
            subscriptions.RemoveRoom(room);
            ReplyError(push, error);
            return;
        }

        // The room as the joiner sees it: private or not, its topic and the joiner's role.
        var details = (await client.DescribeAsync(room, cancellationToken).ConfigureAwait(false)).Value;
        ReplyOk(push, w =>
        {
            w.WriteStartObject();
            if (details is not null)
            {
                JsonEventEncoder.WriteRoomDetails(w, details, full: false);
            }

            w.WriteEndObject();
        });
        var presence = await client.GreetingAsync(room, cancellationToken).ConfigureAwait(false);
        if (presence.Value is { Counted: true } counted)
        {
            // A room too big to list: phoenix.js's Presence is synced to an empty list, and the count comes apart.
            link.TryDeliver(new PresenceState(room, []));
            link.TryDeliver(new PresenceCount(room, counted.Total));
        }
        else if (presence.Value is { } state)
        {
            link.TryDeliver(state);
        }

        var deliveredUpTo = 0L;
        if (lastId is { } after)
        {
            deliveredUpTo = await PushMissedAsync(room, after, cancellationToken).ConfigureAwait(false);
        }

        subscriptions.CompleteRoomJoin(room, deliveredUpTo);
    }

    // Every message after the client's last id, page by page, straight to the socket (the room's live events are
    // held back meanwhile); the highest id pushed, so the held-back copies of those messages are dropped. Runs of a
    // quarter of the socket's queue, each once at most a quarter is still queued, so live events of other topics
    // keep room: a client that missed more than the queue holds would otherwise be closed as a slow reader, and
    // phoenix.js would rejoin with the same last id, again and again.
    private async Task<long> PushMissedAsync(string room, long after, CancellationToken cancellationToken)
    {
        var upTo = after;
        var run = Math.Max(1, link.Capacity / 4);
        var queued = 0;
        while (true)
        {
            var page = await client.RoomHistoryAsync(room, new HistoryQuery(null, upTo, ChatClient.MaxHistoryLimit), cancellationToken).ConfigureAwait(false);
            if (page.Value is not { Count: > 0 } messages)
            {
                return upTo;
            }

            foreach (var message in messages)
            {
                if (queued == run)
                {
                    await link.WhenQueuedAtMostAsync(run, cancellationToken).ConfigureAwait(false);
                    queued = 0;
                }

                if (!link.TryDeliver(message))
                {
                    return upTo;
                }

                queued++;
                upTo = Math.Max(upTo, message.Id);
            }

            if (messages.Count < ChatClient.MaxHistoryLimit)
            {
                return upTo;
            }
        }
    }

    private async Task HandleUserAsync(PhoenixPush push, string user, CancellationToken cancellationToken)
    {
        if (user != client.User)
        {
            if (push.Event is "phx_join")
            {
                ReplyError(push, "unauthorized", "only the user's own sockets may join user:" + Truncate(user));
            }
            else
            {
                Unmatched(push);
            }

            return;
        }

        if (push.Event == "phx_join")
        {
            subscriptions.SetUser(push.JoinRef ?? "");
            ReplyOk(push, Empty);
            return;
        }

        if (!subscriptions.HasUser)
        {
            if (push.Event == "phx_leave")
            {
                ReplyOk(push, Empty);
            }
            else
            {
                Unmatched(push);
            }

            return;
        }

        switch (push.Event)
        {
            case "phx_leave":
                subscriptions.SetUser(null);
                ReplyOk(push, Empty);
                break;
            case "new_msg":
                if (RequireString(push, "to") is { } to && RequireString(push, "body") is { } body)
                {
                    await AcknowledgeAsync(push, client.SendPrivateAsync(to, body, cancellationToken)).ConfigureAwait(false);
                }

                break;
            case "typing":
                if (RequireString(push, "to") is { } typingTo)
                {
                    Reply(push, client.TypingTo(typingTo), Empty);
                }

                break;
            case "history":
                if (RequireString(push, "with") is { } with && Query(push) is { } query)
                {
                    var page = await client.PrivateHistoryAsync(with, query, cancellationToken).ConfigureAwait(false);
                    Reply(push, page.Error, w => WriteMessages(w, page.Value!, PhoenixEventEncoder.WritePrivateMessage));
                }

                break;
            default:
                ReplyError(push, "unknown_event", $"unknown event \"{Truncate(push.Event)}\" on {Truncate(push.Topic)}");
                break;
        }
    }

    private async Task AcknowledgeAsync(PhoenixPush push, Task<Outcome<long>> durable)
    {
        var sent = await durable.ConfigureAwait(false);
        if (sent.Error is { } error)
        {
            ReplyError(push, error);
            return;
        }

        Interlocked.Exchange(ref refusedInARow, 0);
        ReplyOk(push, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("id", sent.Value);
            w.WriteEndObject();
        });
    }

    private HistoryQuery? Query(PhoenixPush push)
    {
        var before = push.PayloadNumber("before");
        var limit = push.PayloadNumber("limit");
        if (push.Has("before") && before is null || push.Has("limit") && limit is not > 0)
        {
            ReplyError(push, "bad_request", "before must be a message id and limit a whole number >= 1");
            return null;
        }

        return new HistoryQuery(before, null, (int)Math.Min(limit ?? 50, ChatClient.MaxHistoryLimit));
    }

    private string? RequireString(PhoenixPush push, string field)
    {
        var value = push.PayloadString(field);
        if (value is null)
        {
            ReplyError(push, "bad_request", $"{push.Event} needs a string field \"{field}\"");
        }

        return value;
    }

    private static void WriteMessages<T>(Utf8JsonWriter w, IReadOnlyList<T> messages, Action<Utf8JsonWriter, T> write)
    {
        w.WriteStartObject();
        w.WriteStartArray("messages");
        foreach (var message in messages)
        {
            write(w, message);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    // Phoenix's own answer to a push on a topic the socket has not joined (or that no channel serves).
    private void Unmatched(PhoenixPush push) => Send(encoder.Reply(push.JoinRef, push.Ref, push.Topic, "error", w =>
    {
        w.WriteStartObject();
        w.WriteString("reason", "unmatched topic");
        w.WriteEndObject();
    }));

    private void Reply(PhoenixPush push, ChatError? error, Action<Utf8JsonWriter> writeResponse)
    {
        if (error is not null)
        {
            ReplyError(push, error);
        }
        else
        {
            ReplyOk(push, writeResponse);
        }
    }

    private void ReplyOk(PhoenixPush push, Action<Utf8JsonWriter> writeResponse) =>
        Send(encoder.Reply(push.JoinRef, push.Ref, push.Topic, "ok", writeResponse));

    private void ReplyError(PhoenixPush push, ChatError error)
    {
        if (error.Code == "rate_limited")
        {
            Refuse(push);
            return;
        }

        ReplyError(push, error.Code, error.Message);
    }

    private void ReplyError(PhoenixPush push, string reason, string message) =>
        Send(encoder.Reply(push.JoinRef, push.Ref, push.Topic, "error", w =>
        {
            w.WriteStartObject();
            w.WriteString("reason", reason);
            w.WriteString("message", message);
            w.WriteEndObject();
        }));

    private void Refuse(PhoenixPush push)
    {
        ChatMetrics.RateLimitedFrames.Add(1, ChatMetrics.Protocol("phoenix"));
        if (Interlocked.Increment(ref refusedInARow) >= limits.FloodDisconnectAfter)
        {
            ChatMetrics.Disconnects.Add(1, ChatMetrics.Reason("flood"));
            link.Close(1008, "flooding: too many frames over the rate limit");
            return;
        }

        var limited = ChatError.RateLimited();
        ReplyError(push, limited.Code, limited.Message);
    }

    private void Send(byte[] bytes) => link.TryDeliver(new Reply(bytes));

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
