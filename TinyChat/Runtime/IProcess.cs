namespace TinyChat.Runtime;

/// <summary>Something a <see cref="Supervisor"/> can run, restart and stop.</summary>
public interface IProcess
{
    /// <summary>Name for logs and the registry.</summary>
    string Name { get; }

    /// <summary>Runs one incarnation of the loop. Returns on normal exit; throws on a fault.</summary>
    Task RunAsync(CancellationToken cancellationToken);

    /// <summary>Called once when the supervisor will not run the process again.</summary>
    void OnTerminated(Exception? reason);
}
