using System.Runtime.InteropServices;

namespace TinyChat.Bench.Targets;

/// <summary>Raises the open-file soft limit to the hard limit; server processes started afterwards inherit it.</summary>
public static partial class FileLimit
{
    private const int RlimitNofile = 7;

    /// <summary>The soft limit in force after the attempt (or -1 where it cannot be read).</summary>
    public static long RaiseToHard()
    {
        if (!OperatingSystem.IsLinux())
        {
            return -1;
        }

        var limit = new Rlimit();
        if (GetRlimit(RlimitNofile, ref limit) != 0)
        {
            return -1;
        }

        if (limit.Current < limit.Maximum)
        {
            var raised = new Rlimit { Current = limit.Maximum, Maximum = limit.Maximum };
            if (SetRlimit(RlimitNofile, ref raised) == 0)
            {
                return (long)raised.Current;
            }
        }

        return (long)limit.Current;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRlimit(int resource, ref Rlimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRlimit(int resource, ref Rlimit limit);

    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }
}
