namespace TinyChat.Tests.Support;

/// <summary>A clock that moves only when a test says so; its timers fire during <see cref="Advance"/>.</summary>
public sealed class ManualClock : TimeProvider
{
    private readonly Lock gate = new();
    private readonly List<ManualTimer> timers = [];
    private readonly DateTimeOffset start;
    private long ticks;

    /// <summary>A clock at <paramref name="start"/> (default 2026-01-01 UTC).</summary>
    public ManualClock(DateTimeOffset? start = null) => this.start = start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref ticks);

    public override DateTimeOffset GetUtcNow() => start.AddTicks(GetTimestamp());

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves time forward and runs, on this thread, every timer that falls due on the way.</summary>
    public void Advance(TimeSpan by)
    {
        var until = GetTimestamp() + by.Ticks;
        while (true)
        {
            ManualTimer? next;
            lock (gate)
            {
                next = timers.Where(t => t.DueAt <= until).MinBy(t => t.DueAt);
                if (next is null)
                {
                    Interlocked.Exchange(ref ticks, until);
                    return;
                }

                Interlocked.Exchange(ref ticks, Math.Max(ticks, next.DueAt));
                if (next.Period > TimeSpan.Zero)
                {
                    next.DueAt += next.Period.Ticks;
                }
                else
                {
                    timers.Remove(next);
                }
            }

            next.Fire();
        }
    }

    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public long DueAt { get; set; }

        public TimeSpan Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock.gate)
            {
                clock.timers.Remove(this);
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    DueAt = clock.GetTimestamp() + dueTime.Ticks;
                    Period = period == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : period;
                    clock.timers.Add(this);
                }
            }

            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (clock.gate)
            {
                clock.timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
