namespace TinyChat.Runtime;

/// <summary>
/// Named places where crash-consistency tests kill the server: when the environment variable
/// <c>TINYCHAT_CRASH_POINT</c> names one (<c>name</c>, or <c>name#N</c> for its N-th passage), the process writes
/// <c>crash point NAME reached</c> to standard error and stops there for good, holding whatever it holds (an open
/// transaction, a half-started loop), so the test's <c>kill -9</c> lands exactly there. Unset, each call is one
/// comparison with null.
/// </summary>
public static class CrashPoints
{
    /// <summary>The environment variable that arms a crash point.</summary>
    public const string Variable = "TINYCHAT_CRASH_POINT";

    private static readonly string? Armed = Environment.GetEnvironmentVariable(Variable);
    private static readonly int ArmedPassage = Armed is not null && Armed.LastIndexOf('#') is var hash and > 0 && int.TryParse(Armed[(hash + 1)..], out var n) ? n : 1;
    private static readonly string? ArmedName = Armed is not null && Armed.LastIndexOf('#') is var at and > 0 ? Armed[..at] : Armed;
    private static int passages;

    /// <summary>Passes the named point; stops here for good when it is the armed one.</summary>
    public static void Pass(string name)
    {
        if (ArmedName is null || !string.Equals(ArmedName, name, StringComparison.Ordinal) || Interlocked.Increment(ref passages) != ArmedPassage)
        {
            return;
        }

        Console.Error.WriteLine($"crash point {name} reached");
        Console.Error.Flush();
        Thread.Sleep(Timeout.Infinite);
    }
}
