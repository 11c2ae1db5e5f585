using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TinyChat.Tests.Support;

/// <summary>Collects every log line the server writes (message, exception and structured values).</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> lines = new();
    private readonly object gate = new();
    private TaskCompletionSource written = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<string> Lines => [.. lines];

    /// <summary>Adds the capture to a host's services.</summary>
    public void Install(IServiceCollection services) =>
        services.AddLogging(b => b.AddProvider(this).SetMinimumLevel(LogLevel.Debug));

    /// <summary>Waits until at least <paramref name="count"/> lines match (or <paramref name="timeout"/> passed); returns how many match.</summary>
    public async Task<int> WaitForAsync(Func<string, bool> match, int count, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            Task next;
            lock (gate)
            {
                next = written.Task;
            }

            var matching = lines.Count(match);
            if (matching >= count)
            {
                return matching;
            }

            try
            {
                await next.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                return lines.Count(match);
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Capturing(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        lines.Enqueue(line);
        TaskCompletionSource signal;
        lock (gate)
        {
            signal = written;
            written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        signal.TrySetResult();
    }

    private sealed class Capturing(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            owner.Add($"{logLevel} {category}: {formatter(state, exception)} [{values}] {exception}");
        }
    }
}
