using System.Buffers;

namespace TinyChat.Tests.Web;

/// <summary>
/// An array pool that fills every returned array with '#' at once and hands it out again: bytes read from a buffer
/// after it went back (a write still using it, a frame kept past its run) show up as '#'.
/// </summary>
public sealed class PoisoningPool : ArrayPool<byte>
{
    private readonly Lock gate = new();
    private readonly List<byte[]> returned = [];
    private int returns;
    private int reuses;

    /// <summary>How many arrays came back.</summary>
    public int Returns => Volatile.Read(ref returns);

    /// <summary>How many rents were served with an array that had come back.</summary>
    public int Reuses => Volatile.Read(ref reuses);

    public override byte[] Rent(int minimumLength)
    {
        lock (gate)
        {
            var fits = returned.FindLastIndex(array => array.Length >= minimumLength);
            if (fits >= 0)
            {
                var array = returned[fits];
                returned.RemoveAt(fits);
                reuses++;
                return array;
            }
        }

        return new byte[Math.Max(minimumLength, 16)];
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        array.AsSpan().Fill((byte)'#');
        lock (gate)
        {
            returns++;
            returned.Add(array);
        }
    }
}
