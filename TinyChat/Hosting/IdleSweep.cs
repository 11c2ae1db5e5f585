using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Hosting;

/// <summary>
/// Lets go of idle rooms and users (<see cref="ChatServer.ForgetIdle"/>, and every <see cref="IForgetsIdle"/>: the
/// HTTP API's request budgets) every <see cref="Interval"/> of <c>Runtime:IdleRoomSeconds</c> (every minute when rooms
/// never retire), so a room retires between one and one and a quarter idle periods after its last use. After a wave of at least <c>Runtime:CompactAfterRetiring</c> retirements it compacts the managed heap once:
/// the collector would otherwise keep the emptied segments and the process would not shrink.
/// </summary>
public sealed class IdleSweep(ChatServer chat, IEnumerable<IForgetsIdle> others, IOptions<RuntimeOptions> options, TimeProvider time, ILogger<IdleSweep> logger) : BackgroundService
{
    // With rooms that never retire the sweep still forgets refilled budgets, at this period.
    private static readonly TimeSpan BudgetsOnly = TimeSpan.FromSeconds(60);

    /// <summary>The sweep's period for an idle time: a quarter of it, between 1 and 60 seconds.</summary>
    public static TimeSpan Interval(TimeSpan idle) => TimeSpan.FromSeconds(Math.Clamp(idle.TotalSeconds / 4, 1, 60));

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var idle = TimeSpan.FromSeconds(options.Value.IdleRoomSeconds);
        using var timer = new PeriodicTimer(idle > TimeSpan.Zero ? Interval(idle) : BudgetsOnly, time);
        var retiredBefore = chat.Rooms.Retired;
        long wave = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var asked = chat.ForgetIdle();
                foreach (var other in others)
                {
                    other.ForgetIdle();
                }

                var retired = chat.Rooms.Retired;
                wave += retired - retiredBefore;
                retiredBefore = retired;

                // A wave is over when a sweep finds nothing more to retire; compact once for the whole wave.
                if (asked == 0 && wave > 0)
                {
                    logger.LogInformation("Retired {Rooms} idle rooms; {Running} rooms running", wave, chat.Rooms.Running);
                    if (options.Value.CompactAfterRetiring > 0 && wave >= options.Value.CompactAfterRetiring)
                    {
                        Compact();
                    }

                    wave = 0;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void Compact()
    {
        var before = GC.GetTotalMemory(false);
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        logger.LogInformation("Compacted the managed heap after a retirement wave: {Before} -> {After} bytes", before, GC.GetTotalMemory(false));
    }
}
