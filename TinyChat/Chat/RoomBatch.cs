namespace TinyChat.Chat;

/// <summary>
/// A room's batch of messages, handed to the store while it may still grow: the room adds the posts that reach it
/// while the batch waits for the store's writer, and the store closes the batch when it starts writing it. What the
/// batch holds then is what is stored, in the order added, under consecutive ids; anything refused by
/// <see cref="TryAdd"/> was never part of it.
/// </summary>
/// <remarks>
/// A batch waiting behind other rooms' commits could not have been committed sooner, so a post joining it costs no
/// latency, and each member's next write carries more messages. The lock is held for an append or a close only.
/// </remarks>
public sealed class RoomBatch
{
    private readonly Lock gate = new();
    private readonly List<NewRoomMessage> messages;
    private readonly int capacity;
    private bool closed;

    /// <summary>A batch holding <paramref name="first"/>, open for more until it holds <paramref name="capacity"/>.</summary>
    public RoomBatch(IEnumerable<NewRoomMessage> first, int capacity = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        messages = [.. first];
        this.capacity = capacity;
    }

    /// <summary>Messages the batch holds now.</summary>
    public int Count
    {
        get
        {
            lock (gate)
            {
                return messages.Count;
            }
        }
    }

    /// <summary>Whether the store has not started writing the batch yet (it may have by the time this returns).</summary>
    public bool IsOpen
    {
        get
        {
            lock (gate)
            {
                return !closed && messages.Count < capacity;
            }
        }
    }

    /// <summary>
    /// Adds a message unless the store has closed the batch (or it is full): true when the message is part of the
    /// batch and will be stored (or fail) with it, false when it must go into a batch of its own.
    /// </summary>
    public bool TryAdd(NewRoomMessage message)
    {
        lock (gate)
        {
            if (closed || messages.Count >= capacity)
            {
                return false;
            }

            messages.Add(message);
            return true;
        }
    }

    /// <summary>
    /// Closes the batch (the store calls it when it starts writing the batch; a retry may call it again) and returns
    /// what it holds, which never changes after.
    /// </summary>
    public IReadOnlyList<NewRoomMessage> Close()
    {
        lock (gate)
        {
            closed = true;
            return messages;
        }
    }
}
