using System.Text.Json;

namespace TinyChat.Tests.HttpApi;

/// <summary>
/// A strict reader of an event stream's text, for tests that check the server's framing byte by byte: every block
/// ends with a blank line, holds only lines this server writes (one each of <c>id</c>, <c>event</c>, <c>data</c>,
/// <c>retry</c>, or one comment alone), and every <c>data</c> line is one whole JSON value.
/// </summary>
public static class SseWire
{
    /// <summary>The complete events of <paramref name="text"/>, in order; <paramref name="rest"/> is the unfinished tail.</summary>
    public static List<SseEvent> Parse(string text, out string rest)
    {
        var events = new List<SseEvent>();
        var start = 0;
        for (var end = text.IndexOf("\n\n", StringComparison.Ordinal); end >= 0; end = text.IndexOf("\n\n", start, StringComparison.Ordinal))
        {
            events.Add(ParseBlock(text[start..end], events.Count));
            start = end + 2;
        }

        rest = text[start..];
        return events;
    }

    private static SseEvent ParseBlock(string block, int index)
    {
        if (block.StartsWith(':'))
        {
            Assert.That(block, Does.Not.Contain("\n"), $"event {index}: a comment is a block of its own");
            return new SseEvent(null, null, null, null, block[1..].Trim());
        }

        string? id = null, name = null, data = null;
        int? retry = null;
        foreach (var line in block.Split('\n'))
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal) && id is null)
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal) && name is null)
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && data is null)
            {
                data = line[6..];
                try
                {
                    using var _ = JsonDocument.Parse(data);
                }
                catch (JsonException ex)
                {
                    Assert.Fail($"event {index}: data is not one JSON value ({ex.Message}): {Shorten(data)}");
                }
            }
            else if (line.StartsWith("retry: ", StringComparison.Ordinal) && retry is null)
            {
                retry = int.Parse(line[7..], System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                Assert.Fail($"event {index}: not a line of this server's streams: {Shorten(line)} (in {Shorten(block)})");
            }
        }

        Assert.That(name is null == (data is null), Is.True, $"event {index}: an event has a name and data, or neither: {Shorten(block)}");
        return new SseEvent(id, name, data, retry, null);
    }

    private static string Shorten(string text) => text.Length <= 160 ? text : $"{text[..80]}…{text[^80..]} ({text.Length} chars)";
}
