namespace TinyChat.Runtime;

/// <summary>What happened to a message posted to a mailbox.</summary>
public enum PostResult
{
    /// <summary>The message is in the mailbox and will be handled in order.</summary>
    Accepted,

    /// <summary>The mailbox was full and the caller chose not to wait.</summary>
    MailboxFull,

    /// <summary>The process has stopped for good; nothing will handle the message.</summary>
    Stopped,
}
