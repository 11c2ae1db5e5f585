namespace TinyChat.Runtime;

/// <summary>A reason the server cannot start, worded for the one line the operator sees.</summary>
public sealed class StartupException(string message) : Exception(message);
