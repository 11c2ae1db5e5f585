namespace TinyChat.Tests.Support;

/// <summary>Builds client frames for <see cref="ChatSocket.RequestAsync"/>: <c>Frame(("command", "join"), ("room", "r"))</c>.</summary>
public static class Frames
{
    public static Dictionary<string, object?> Frame(params (string Key, object? Value)[] fields) =>
        fields.ToDictionary(f => f.Key, f => f.Value);
}
