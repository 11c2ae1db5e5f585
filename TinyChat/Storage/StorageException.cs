namespace TinyChat.Storage;

/// <summary>The data file cannot be used; the message is one line that names the file and says why.</summary>
public sealed class StorageException(string message, Exception? inner = null) : Exception(message, inner);
