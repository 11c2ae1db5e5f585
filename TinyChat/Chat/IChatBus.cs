namespace TinyChat.Chat;

/// <summary>What a <see cref="ChatTopic"/> is about.</summary>
public enum ChatTopicKind
{
    /// <summary>A room: its committed messages and its typing notices.</summary>
    Room,

    /// <summary>A user: private messages and private typing for every connection of the user.</summary>
    User,

    /// <summary>The cluster itself: each node's presence rows and heartbeats (<see cref="ClusterPresence"/>).</summary>
    Cluster,
}

/// <summary>Where something is published: one room or one user.</summary>
public readonly record struct ChatTopic(ChatTopicKind Kind, string Name)
{
    /// <summary>The topic of a room.</summary>
    public static ChatTopic Room(string room) => new(ChatTopicKind.Room, room);

    /// <summary>The topic of a user.</summary>
    public static ChatTopic User(string user) => new(ChatTopicKind.User, user);

    /// <summary>The topic every node's presence publishes on.</summary>
    public static ChatTopic Presence { get; } = new(ChatTopicKind.Cluster, "presence");
}

/// <summary>Something the bus carries.</summary>
public abstract record ChatBusMessage;

/// <summary>Messages of one room that are already durable, in sequence order (ids consecutive).</summary>
public sealed record CommittedMessages(string Room, IReadOnlyList<RoomMessage> Messages) : ChatBusMessage;

/// <summary>One event for the topic's deliverers: a private message or a typing notice.</summary>
public sealed record ChatBusEvent(ChatEvent Event) : ChatBusMessage;

/// <summary>
/// Users joined or left a room (the store has it already): the room's processes on other nodes update their
/// member sets, so a user who joined on one node may post on another at once.
/// </summary>
public sealed record MembershipChanged(string Room, IReadOnlyList<string> Joined, IReadOnlyList<string> Left) : ChatBusMessage;

/// <summary>
/// A moderator removed <paramref name="User"/> from a room (kick or ban; the store has it already): published on
/// the user's topic so the user's sessions, on whatever node, drop the room from their joined set.
/// </summary>
public sealed record RemovedFromRoom(string Room, string User) : ChatBusMessage;

/// <summary>
/// Said by a bus to every local subscriber when messages from other nodes may have been lost (its connection
/// to the other nodes was cut and is back): whoever keeps a stream must catch up from the store.
/// </summary>
public sealed record BusResumed : ChatBusMessage
{
    /// <summary>The one instance (it carries nothing).</summary>
    public static BusResumed Instance { get; } = new();
}

/// <summary>Takes what the bus delivers on a topic. Must not block: it hands the message on or drops it.</summary>
public interface IChatBusSubscriber
{
    /// <summary>Takes a message published on <paramref name="topic"/>. Never blocks; may be called from any thread.</summary>
    void Receive(ChatTopic topic, ChatBusMessage message);
}

/// <summary>
/// Carries room batches, private messages and typing notices from whoever publishes them to the deliverers
/// subscribed to the topic (a room process with members on this node, a user's session).
/// </summary>
/// <remarks>
/// <para>The contract, the same for every implementation (<c>ChatBusContract</c> tests it):</para>
/// <list type="bullet">
/// <item>Publish never blocks the publisher and never throws because of a subscriber.</item>
/// <item>Subscribers of a topic receive its messages in publish order (per publisher; one topic has one
/// publisher of room batches: the room loop that committed them).</item>
/// <item>Every subscriber of a topic receives every message published after its subscription, until it
/// unsubscribes; a subscriber that throws or drops messages costs no other subscriber anything.</item>
/// <item>Subscribers on the publisher's own node are called synchronously, on the publisher's thread, before
/// <see cref="Publish"/> returns. The room loop relies on this: its own batches are delivered to its members by
/// the loop itself, in the middle of the loop's turn, at the cost of a direct call.</item>
/// </list>
/// <para>
/// How a cluster bus (PostgreSQL <c>LISTEN</c>/<c>NOTIFY</c>) fits: <see cref="Publish"/> calls the local
/// subscribers as above and then queues a notification for the other nodes (one per batch, the batch inline or
/// by reference to its id range when it exceeds the payload limit), sent by a writer loop of its own so the
/// publisher never waits on the network. Each node's listener loop turns notifications back into messages and
/// calls that node's subscribers. On a node, the subscriber of a room topic is the room's process there
/// (started when the room has local members); a batch from another node enters that process through its
/// mailbox, so the room delivers local and remote batches from one loop, in id order: it remembers the last id
/// it delivered, delivers only the next one, and reads a gap (a lost notification, a dropped <c>LISTEN</c>
/// connection) from the store by that id before going on. The bus is not durable; the store is.
/// </para>
/// </remarks>
public interface IChatBus
{
    /// <summary>Publishes to every subscriber of the topic. Never blocks.</summary>
    void Publish(ChatTopic topic, ChatBusMessage message);

    /// <summary>Subscribes until the returned handle is disposed (disposing twice is harmless).</summary>
    IDisposable Subscribe(ChatTopic topic, IChatBusSubscriber subscriber);
}
