using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace TinyChat.Tests.Phoenix;

/// <summary>
/// The unmodified npm <c>phoenix</c> client in a Node process (js/client.mjs): the test reads what it saw as JSON
/// lines and tells it what to do. Every expectation waits with a timeout; disposing kills the process.
/// </summary>
public sealed class PhoenixNodeClient : IAsyncDisposable
{
    /// <summary>How long any expectation waits before failing.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly Process process;
    private readonly StringBuilder log = new();
    private readonly List<JsonElement> seen = [];
    private readonly HashSet<int> taken = [];
    private TaskCompletionSource next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int pushes;

    private PhoenixNodeClient(Process process) => this.process = process;

    /// <summary>Everything the client printed, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (log)
            {
                return log.ToString();
            }
        }
    }

    /// <summary>Every line the client printed so far, in order.</summary>
    public IReadOnlyList<JsonElement> Seen
    {
        get
        {
            lock (seen)
            {
                return [.. seen];
            }
        }
    }

    /// <summary>The folder of the Node scripts and their pinned packages (installed by <c>make test</c>).</summary>
    public static string ScriptDirectory([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "js");

    /// <summary>Starts a client of the server at <paramref name="baseUri"/>; <paramref name="environment"/> configures it (see client.mjs).</summary>
    public static PhoenixNodeClient Start(Uri baseUri, string token, IDictionary<string, string>? environment = null)
    {
        var directory = ScriptDirectory();
        if (!Directory.Exists(Path.Combine(directory, "node_modules", "phoenix")))
        {
            Assert.Fail($"the phoenix npm package is not installed in {directory}: run `make test` (or `npm ci` there)");
        }

        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("client.mjs");
        info.Environment["TINYCHAT_SOCKET"] = $"ws://{baseUri.Authority}/socket";
        info.Environment["TOKEN"] = token;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var client = new PhoenixNodeClient(process);
        process.OutputDataReceived += (_, e) => client.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => client.Append("stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return client;
    }

    /// <summary>
    /// The first line not yet taken with <paramref name="eventName"/> that matches, in the order printed (lines that
    /// do not match stay for later expectations); fails after the timeout.
    /// </summary>
    public async Task<JsonElement> ExpectAsync(string eventName, Func<JsonElement, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            Task arrived;
            lock (seen)
            {
                for (var i = 0; i < seen.Count; i++)
                {
                    var line = seen[i];
                    var name = line.GetProperty("event").GetString();
                    if (name == "failed")
                    {
                        Assert.Fail($"the phoenix.js client failed:\n{Log}");
                    }

                    if (!taken.Contains(i) && name == eventName && (match is null || match(line)))
                    {
                        taken.Add(i);
                        return line;
                    }
                }

                arrived = next.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || await Task.WhenAny(arrived, Task.Delay(left)) != arrived)
            {
                throw new TimeoutException($"the phoenix.js client reported no matching \"{eventName}\" in time; it said:\n{Log}");
            }
        }
    }

    /// <summary>Marks every line of <paramref name="eventName"/> printed so far as taken: later expectations see only newer ones.</summary>
    public void SkipSeen(string eventName)
    {
        lock (seen)
        {
            for (var i = 0; i < seen.Count; i++)
            {
                if (seen[i].GetProperty("event").GetString() == eventName)
                {
                    taken.Add(i);
                }
            }
        }
    }

    /// <summary>Waits for the join reply of <paramref name="topic"/>.</summary>
    public Task<JsonElement> JoinedAsync(string topic = "room:default") =>
        ExpectAsync("joined", l => l.GetProperty("topic").GetString() == topic);

    /// <summary>Waits for a presence sync of the room in which <paramref name="check"/> holds for the user list.</summary>
    public Task<JsonElement> PresenceAsync(Func<Dictionary<string, int>, bool> check, string topic = "room:default") =>
        ExpectAsync("presence", l => l.GetProperty("topic").GetString() == topic && check(Users(l)));

    /// <summary>Waits for a <c>new_msg</c> with this body.</summary>
    public Task<JsonElement> MessageAsync(string body, string topic = "room:default") =>
        ExpectAsync("msg", l => l.GetProperty("topic").GetString() == topic && l.GetProperty("payload").GetProperty("body").GetString() == body);

    /// <summary>Pushes an event and returns the reply line (<c>status</c>, <c>response</c>).</summary>
    public async Task<JsonElement> PushAsync(string topic, string eventName, object payload)
    {
        var id = Interlocked.Increment(ref pushes);
        await SendAsync(new { @do = "push", id, topic, @event = eventName, payload });
        return await ExpectAsync("reply", l => l.GetProperty("id").GetInt32() == id);
    }

    /// <summary>Sends a command line (see client.mjs).</summary>
    public async Task SendAsync(object command)
    {
        await process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command));
        await process.StandardInput.FlushAsync();
    }

    /// <summary>The presence list of a presence line: user → number of metas.</summary>
    public static Dictionary<string, int> Users(JsonElement presenceLine) =>
        presenceLine.GetProperty("users").EnumerateArray().ToDictionary(u => u.GetProperty("id").GetString()!, u => u.GetProperty("metas").GetInt32());

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
        }
        finally
        {
            process.Dispose();
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        Append(line);
        try
        {
            var parsed = JsonDocument.Parse(line).RootElement.Clone();
            TaskCompletionSource woken;
            lock (seen)
            {
                seen.Add(parsed);
                woken = next;
                next = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            woken.TrySetResult();
        }
        catch (JsonException)
        {
            // Not one of ours (a library's console output): kept in the log only.
        }
    }

    private void Append(string? line)
    {
        lock (log)
        {
            log.AppendLine(line);
        }
    }
}
