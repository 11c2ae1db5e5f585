using System.Net.Http.Headers;
using System.Threading.Channels;

namespace TinyChat.Tests.HttpApi;

/// <summary>One parsed Server-Sent Event, or a comment line (<see cref="Comment"/> set, nothing else).</summary>
public sealed record SseEvent(string? Id, string? Event, string? Data, int? Retry, string? Comment);

/// <summary>A test client of an event stream over HttpClient: parses the stream as EventSource does, event by event.</summary>
public sealed class SseClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient http;
    private readonly CancellationTokenSource stop = new();
    private readonly Channel<SseEvent> events = Channel.CreateUnbounded<SseEvent>();
    private readonly Task reading;

    private SseClient(HttpClient http, HttpResponseMessage response)
    {
        this.http = http;
        Response = response;
        reading = response.IsSuccessStatusCode ? ReadAsync() : Task.CompletedTask;
    }

    public HttpResponseMessage Response { get; }

    /// <summary>Completes when the server ended the stream.</summary>
    public Task Ended => reading;

    /// <summary>The id of the newest event with one (what EventSource would send as Last-Event-ID).</summary>
    public string? LastEventId { get; private set; }

    public static async Task<SseClient> OpenAsync(Uri baseUri, string path, string? token, string? lastEventId = null)
    {
        var http = new HttpClient { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        using var timeout = new CancellationTokenSource(DefaultTimeout);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        return new SseClient(http, response);
    }

    /// <summary>The next event or comment.</summary>
    public async Task<SseEvent> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        return await events.Reader.ReadAsync(cts.Token);
    }

    /// <summary>Skips events until one matches.</summary>
    public async Task<SseEvent> ExpectAsync(Func<SseEvent, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        while (true)
        {
            var next = await events.Reader.ReadAsync(cts.Token);
            if (match(next))
            {
                return next;
            }
        }
    }

    /// <summary>The next <paramref name="count"/> events named <paramref name="name"/>, skipping others.</summary>
    public async Task<List<SseEvent>> TakeAsync(string name, int count)
    {
        var taken = new List<SseEvent>();
        while (taken.Count < count)
        {
            taken.Add(await ExpectAsync(e => e.Event == name));
        }

        return taken;
    }

    /// <summary>Whether an event named <paramref name="name"/> is already waiting (without waiting).</summary>
    public bool HasPending(string name)
    {
        var pending = new List<SseEvent>();
        while (events.Reader.TryRead(out var e))
        {
            pending.Add(e);
        }

        foreach (var e in pending)
        {
            events.Writer.TryWrite(e);
        }

        return pending.Any(e => e.Event == name);
    }

    private async Task ReadAsync()
    {
        try
        {
            using var stream = await Response.Content.ReadAsStreamAsync(stop.Token);
            using var reader = new StreamReader(stream);
            string? id = null, name = null, data = null;
            int? retry = null;
            while (await reader.ReadLineAsync(stop.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (id is not null || name is not null || data is not null || retry is not null)
                    {
                        if (id is not null)
                        {
                            LastEventId = id;
                        }

                        events.Writer.TryWrite(new SseEvent(id, name, data, retry, null));
                    }

                    id = name = data = null;
                    retry = null;
                }
                else if (line[0] == ':')
                {
                    events.Writer.TryWrite(new SseEvent(null, null, null, null, line[1..].Trim()));
                }
                else
                {
                    var colon = line.IndexOf(':');
                    var field = colon < 0 ? line : line[..colon];
                    var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
                    switch (field)
                    {
                        case "id": id = value; break;
                        case "event": name = value; break;
                        case "data": data = data is null ? value : data + "\n" + value; break;
                        case "retry": retry = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
        {
        }
        finally
        {
            events.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Cancel, let the reader end, and only then dispose the response under it: disposing first made the
        // reader's pending read fail inside HttpClient (a NullReferenceException once, under load).
        await stop.CancelAsync();
        try
        {
            await reading.WaitAsync(DefaultTimeout);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException or ObjectDisposedException or TimeoutException)
        {
        }

        Response.Dispose();
        http.Dispose();
        stop.Dispose();
    }
}
