using System.Text;
using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

[TestFixture]
public sealed class EventEncodingTests
{
    private static RoomMessage Message(int i) => new("lobby", "foo", $"hello {i}", i, DateTimeOffset.UnixEpoch);

    [Test]
    public void Each_encoder_encodes_an_event_once_and_every_caller_gets_the_same_bytes()
    {
        var plain = new CountingEncoder("plain");
        var tagged = new CountingEncoder("tagged");
        var message = Message(1);

        var first = message.EncodeWith(plain);
        for (var i = 0; i < 10; i++)
        {
            Assert.That(message.EncodeWith(tagged).ToArray(), Is.EqualTo(Encoding.UTF8.GetBytes("tagged:hello 1")));
            Assert.That(message.EncodeWith(plain).Equals(first), Is.True, "the cached bytes themselves, not a copy");
        }

        Assert.That((plain.Calls, tagged.Calls), Is.EqualTo((1, 1)));
    }

    [Test]
    public void There_is_no_fixed_number_of_encoders()
    {
        var encoders = Enumerable.Range(0, 12).Select(i => new CountingEncoder($"v{i}")).ToArray();
        var message = Message(7);

        for (var round = 0; round < 3; round++)
        {
            foreach (var encoder in encoders)
            {
                Assert.That(Encoding.UTF8.GetString(message.EncodeWith(encoder).Span), Is.EqualTo($"{encoder.Name}:hello 7"));
            }
        }

        Assert.That(encoders.Select(e => e.Calls), Is.All.EqualTo(1));
    }

    [Test]
    public void A_failed_encoding_is_not_cached()
    {
        var encoder = new CountingEncoder("flaky") { FailFirst = true };
        var message = Message(3);

        Assert.Throws<InvalidOperationException>(() => message.EncodeWith(encoder));
        Assert.That(Encoding.UTF8.GetString(message.EncodeWith(encoder).Span), Is.EqualTo("flaky:hello 3"));
        Assert.That(encoder.Calls, Is.EqualTo(2));
    }

    [Test]
    public async Task Concurrent_recipients_encode_each_event_once_per_encoder()
    {
        var encoders = new[] { new CountingEncoder("plain") { Slow = true }, new CountingEncoder("tagged") { Slow = true } };
        var messages = Enumerable.Range(0, 200).Select(Message).ToArray();
        using var start = new Barrier(4);

        var readers = Enumerable.Range(0, 4).Select(r => Task.Run(() =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(10));
            var seen = new List<(int Message, string Bytes)>();
            foreach (var message in messages)
            {
                // Half the readers start with the other encoder, so both encoders race on the same event.
                foreach (var encoder in r % 2 == 0 ? encoders : encoders.Reverse())
                {
                    seen.Add(((int)message.Id, Encoding.UTF8.GetString(message.EncodeWith(encoder).Span)));
                }
            }

            return seen;
        })).ToArray();
        var all = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(encoders.Select(e => e.Calls), Is.All.EqualTo(messages.Length), "once per event per encoder, whatever the race");
        Assert.That(all.SelectMany(s => s).Distinct().Count(), Is.EqualTo(messages.Length * encoders.Length), "every reader saw the same bytes");
    }

    private sealed class CountingEncoder(string name) : IEventEncoder
    {
        private int calls;

        public string Name => name;

        public int Calls => Volatile.Read(ref calls);

        public bool FailFirst { get; init; }

        public bool Slow { get; init; }

        public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent)
        {
            if (Interlocked.Increment(ref calls) == 1 && FailFirst)
            {
                throw new InvalidOperationException("first encoding fails");
            }

            if (Slow)
            {
                // Widen the window in which another reader could miss the cache and encode as well.
                Thread.SpinWait(2000);
            }

            return Encoding.UTF8.GetBytes($"{name}:{((RoomMessage)chatEvent).Text}");
        }
    }
}
