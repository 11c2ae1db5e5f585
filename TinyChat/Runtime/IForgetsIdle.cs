namespace TinyChat.Runtime;

/// <summary>
/// Holds something per user or per address that a fresh start would rebuild the same (a refilled rate budget):
/// the idle sweep asks it to let go of that every period, so such tables shrink back once their users are gone.
/// </summary>
public interface IForgetsIdle
{
    /// <summary>Drops what a fresh start would rebuild the same; never blocks. Returns how many entries went.</summary>
    int ForgetIdle();
}
