namespace TinyChat.Chat;

/// <summary>
/// What one subject (an event, a batch) encodes to, per encoder, each encoded once and shared by every recipient
/// that uses that encoder. Lives as a field of its subject, which is also the lock a miss takes.
/// </summary>
/// <remarks>
/// A hit reads without locking: the nodes are immutable and only ever prepended (newest first). Only a miss takes
/// the lock, once per encoder per subject, and only threads missing the same subject wait (for one encode); the
/// common case allocates nothing but the node.
/// </remarks>
internal struct EncodingCache<TEncoder, TBytes>
    where TEncoder : class
{
    private Node? newest;

    /// <summary>
    /// <paramref name="subject"/>'s bytes for <paramref name="encoder"/>, from <paramref name="encode"/> on first use.
    /// Thread-safe; call it on the subject's own field.
    /// </summary>
    public TBytes GetOrEncode<TSubject>(TEncoder encoder, TSubject subject, Func<TEncoder, TSubject, TBytes> encode)
        where TSubject : class
    {
        for (var known = Volatile.Read(ref newest); known is not null; known = known.Next)
        {
            if (ReferenceEquals(known.Encoder, encoder))
            {
                return known.Bytes;
            }
        }

        lock (subject)
        {
            for (var known = newest; known is not null; known = known.Next)
            {
                if (ReferenceEquals(known.Encoder, encoder))
                {
                    return known.Bytes;
                }
            }

            var bytes = encode(encoder, subject);
            Volatile.Write(ref newest, new Node(encoder, bytes, newest));
            return bytes;
        }
    }

    private sealed class Node(TEncoder encoder, TBytes bytes, Node? next)
    {
        public TEncoder Encoder { get; } = encoder;

        public TBytes Bytes { get; } = bytes;

        public Node? Next { get; } = next;
    }
}
