namespace TinyChat.Runtime;

/// <summary>Restart intensity, as in OTP: at most <see cref="MaxRestarts"/> restarts within <see cref="Window"/>, else escalate.</summary>
public sealed record RestartPolicy(int MaxRestarts, TimeSpan Window)
{
    /// <summary>OTP's default intensity (3 restarts in 5 seconds).</summary>
    public static RestartPolicy Default { get; } = new(3, TimeSpan.FromSeconds(5));
}

/// <summary>What a supervisor does with a child whose loop ended.</summary>
public enum SupervisorDirective
{
    /// <summary>Run the child's loop again (same mailbox, fresh state).</summary>
    Restart,

    /// <summary>Let the child go: it is terminated and removed.</summary>
    Stop,

    /// <summary>Fail the supervisor itself; its parent decides.</summary>
    Escalate,
}

/// <summary>When a child is restarted, as in OTP child specs.</summary>
public enum RestartKind
{
    /// <summary>Restarted after a fault and after a normal exit.</summary>
    Permanent,

    /// <summary>Restarted after a fault only; a normal exit removes it.</summary>
    Transient,

    /// <summary>Never restarted.</summary>
    Temporary,
}

/// <summary>Recent restarts of one supervisor; decides when restart intensity is exceeded.</summary>
public sealed class RestartStatistics(RestartPolicy policy)
{
    private readonly Queue<DateTimeOffset> recent = new();

    /// <summary>Restarts over the supervisor's lifetime.</summary>
    public int TotalRestarts { get; private set; }

    /// <summary>Restarts that fall within the policy window at the time of the last record.</summary>
    public int RecentRestarts => recent.Count;

    /// <summary>Records a restart at <paramref name="now"/>; false when this restart exceeds the intensity.</summary>
    public bool TryRecordRestart(DateTimeOffset now)
    {
        while (recent.Count > 0 && now - recent.Peek() > policy.Window)
        {
            recent.Dequeue();
        }

        if (recent.Count >= policy.MaxRestarts)
        {
            return false;
        }

        recent.Enqueue(now);
        TotalRestarts++;
        return true;
    }
}

/// <summary>Pure decision of a supervisor about a child whose loop ended.</summary>
public static class SupervisionDecision
{
    /// <summary>The directive for an ended loop, given its restart kind, how it ended and whether intensity allows another restart.</summary>
    public static SupervisorDirective Decide(RestartKind kind, Exception? fault, Func<bool> tryRecordRestart)
    {
        var wantsRestart = kind switch
        {
            RestartKind.Permanent => true,
            RestartKind.Transient => fault is not null,
            _ => false,
        };
        if (!wantsRestart)
        {
            return SupervisorDirective.Stop;
        }

        return tryRecordRestart() ? SupervisorDirective.Restart : SupervisorDirective.Escalate;
    }
}
