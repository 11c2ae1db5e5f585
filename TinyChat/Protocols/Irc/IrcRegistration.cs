using System.Text;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Irc;

/// <summary>Registration: PASS, NICK, USER, CAP, SASL PLAIN, guests, the welcome burst.</summary>
public sealed partial class IrcSession
{
    private const int MaxSaslBytes = 4096;
    private string? password;
    private string? nick;
    private string? userName;
    private string? realName;
    private Admission? admission;
    private bool saslStarted;
    private StringBuilder? saslPayload;

    private async ValueTask RegisterAsync(IrcLine line, CancellationToken cancellationToken)
    {
        switch (line.Command)
        {
            case "CAP":
                HandleCap(line);
                break;
            case "PASS":
                if (line[0] is not { } pass)
                {
                    Send(replies.Numeric(IrcNumerics.NeedMoreParams, "PASS", "Not enough parameters"));
                    return;
                }

                password = pass;
                break;
            case "NICK":
                if (line[0] is not { Length: > 0 } wanted)
                {
                    Send(replies.Numeric(IrcNumerics.NoNicknameGiven, "No nickname given"));
                    return;
                }

                if (ChatNames.CheckUserName(wanted) is not null)
                {
                    Send(replies.Numeric(IrcNumerics.ErroneousNickname, wanted, "Erroneous nickname: use letters, digits, '_' and '-' (at most 32)"));
                    return;
                }

                // During CAP negotiation the client may still log in with SASL: a taken nick is told at the end.
                if (admission is null && password is null && door.Options.AllowGuests && !capabilities.Negotiating
                    && await NameTakenAsync(wanted, cancellationToken).ConfigureAwait(false))
                {
                    Send(replies.Numeric(IrcNumerics.NicknameInUse, wanted, "Nickname is already in use"));
                    return;
                }

                nick = wanted;
                replies.Nick = wanted;
                break;
            case "USER":
                if (line.Parameters.Count < 4 || line[0]!.Length == 0 || line[3]!.Length == 0)
                {
                    Send(replies.Numeric(IrcNumerics.NeedMoreParams, "USER", "Not enough parameters"));
                    return;
                }

                userName = new string([.. line[0]!.Where(c => !char.IsWhiteSpace(c) && c != '@' && c != '!').Take(10)]);
                userName = userName.Length == 0 ? "user" : userName;
                realName = line[3];
                break;
            case "AUTHENTICATE":
                await HandleAuthenticateAsync(line, cancellationToken).ConfigureAwait(false);
                return;
            case "PING":
                Pong(line);
                return;
            case "PONG":
                return;
            case "QUIT":
                connection.Close("Closing link: quit", drain: true);
                return;
            default:
                Send(replies.Numeric(IrcNumerics.NotRegistered, "You have not registered"));
                return;
        }

        if (nick is not null && userName is not null && !capabilities.Negotiating)
        {
            await CompleteRegistrationAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void HandleCap(IrcLine line)
    {
        var sub = line[0]?.ToUpperInvariant();
        switch (sub)
        {
            case "LS":
                if (client is null)
                {
                    capabilities.Negotiating = true;
                }

                capabilities.Version302 |= int.TryParse(line[1], out var version) && version >= 302;
                Send(IrcFormat.Line(replies.ServerName, "CAP", replies.Nick, "LS", string.Join(' ', IrcCapabilities.Supported.Select(capabilities.Advertised))));
                break;
            case "LIST":
                Send(IrcFormat.Line(replies.ServerName, "CAP", replies.Nick, "LIST", string.Join(' ', capabilities.Enabled)));
                break;
            case "REQ":
                if (client is null)
                {
                    capabilities.Negotiating = true;
                }

                var requested = line[1] ?? "";
                var acknowledged = capabilities.TryRequest(requested);
                Send(IrcFormat.Line(replies.ServerName, "CAP", replies.Nick, acknowledged ? "ACK" : "NAK", requested));
                replies.UserHostInNames = capabilities.Has("userhost-in-names");
                if (acknowledged && view is not null)
                {
                    connection.WithView(
                        v =>
                        {
                            v.Echo = capabilities.Has("echo-message");
                            v.Redaction = capabilities.Has("draft/message-redaction");
                            v.MessageTags = capabilities.Has("message-tags");
                            return true;
                        },
                        false);
                    connection.Attach(view, capabilities.WantsTags ? door.Tagged : door.Plain);
                }

                break;
            case "END":
                capabilities.Negotiating = false;
                break;
            default:
                Send(replies.Numeric("410", line[0] ?? "", "Invalid CAP command"));
                break;
        }
    }

    private async ValueTask HandleAuthenticateAsync(IrcLine line, CancellationToken cancellationToken)
    {
        if (!capabilities.Has("sasl"))
        {
            Send(replies.Numeric(IrcNumerics.UnknownCommand, "AUTHENTICATE", "Request the sasl capability first"));
            return;
        }

        if (admission is not null)
        {
            Send(replies.Numeric(IrcNumerics.SaslAlready, "You have already authenticated using SASL"));
            return;
        }

        var argument = line[0] ?? "";
        if (argument == "*")
        {
            ResetSasl();
            Send(replies.Numeric(IrcNumerics.SaslAborted, "SASL authentication aborted"));
            return;
        }

        if (!saslStarted)
        {
            if (!argument.Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
            {
                Send(replies.Numeric(IrcNumerics.SaslMechs, "PLAIN", "are available SASL mechanisms"));
                Send(replies.Numeric(IrcNumerics.SaslFail, "SASL authentication failed"));
                return;
            }

            saslStarted = true;
            saslPayload = new StringBuilder();
            Send("AUTHENTICATE +\r\n");
            return;
        }

        if (argument != "+")
        {
            saslPayload!.Append(argument);
        }

        if (saslPayload!.Length > MaxSaslBytes)
        {
            ResetSasl();
            Send(replies.Numeric(IrcNumerics.SaslTooLong, "SASL message too long"));
            return;
        }

        if (argument.Length == 400)
        {
            return; // more chunks follow
        }

        var payload = saslPayload.ToString();
        ResetSasl();
        var parts = TryDecode(payload)?.Split('\0');
        if (parts is not { Length: 3 })
        {
            Send(replies.Numeric(IrcNumerics.SaslFail, "SASL authentication failed"));
            return;
        }

        var admitted = await door.SignIns.AdmitAsync(connection.Peer, parts[2], cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { Code: SignIns.Code } limited)
        {
            Send(replies.Numeric(IrcNumerics.SaslFail, "SASL authentication failed"));
            connection.Close($"Closing link: {limited.Message}", drain: true);
            return;
        }

        if (admitted.Value is not { } ok || (parts[1].Length > 0 && parts[1] != ok.User) || (parts[0].Length > 0 && parts[0] != ok.User))
        {
            if (admitted.Value is { } wrongUser)
            {
                await wrongUser.DisposeAsync().ConfigureAwait(false);
            }

            Send(replies.Numeric(IrcNumerics.SaslFail, admitted.Error?.Code == "too_many_connections" ? admitted.Error.Message : "SASL authentication failed"));
            return;
        }

        admission = ok;
        Send(replies.Numeric(IrcNumerics.LoggedIn, $"{nick ?? ok.User}!{userName ?? ok.User}@{connection.Address}", ok.User, $"You are now logged in as {ok.User}"));
        Send(replies.Numeric(IrcNumerics.SaslSuccess, "SASL authentication successful"));
    }

    // A guest that just disconnected may still be leaving its rooms: a client reconnecting under its nick at once
    // (bots, test suites) waits for that, briefly, instead of being told the nick is taken.
    private async ValueTask<bool> NameTakenAsync(string name, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 20 && door.Chat.IsGuestOnline(name); attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), door.Time, cancellationToken).ConfigureAwait(false);
        }

        return await door.Chat.UserExistsAsync(name, cancellationToken).ConfigureAwait(false);
    }

    private void ResetSasl()
    {
        saslStarted = false;
        saslPayload = null;
    }

    private static string? TryDecode(string base64)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private async ValueTask CompleteRegistrationAsync(CancellationToken cancellationToken)
    {
        if (admission is null)
        {
            Outcome<Admission> admitted;
            if (password is not null)
            {
                admitted = await door.SignIns.AdmitAsync(connection.Peer, password, cancellationToken).ConfigureAwait(false);
            }
            else if (door.Options.AllowGuests)
            {
                await NameTakenAsync(nick!, cancellationToken).ConfigureAwait(false);
                admitted = await door.Chat.AdmitGuestAsync(nick, cancellationToken).ConfigureAwait(false);
                if (admitted.Error is { Code: "username_taken" })
                {
                    // The client may pick another nick and register then.
                    Send(replies.Numeric(IrcNumerics.NicknameInUse, nick!, "Nickname is already in use"));
                    nick = null;
                    return;
                }
            }
            else
            {
                admitted = ChatError.MissingToken();
            }

            if (admitted.Error is { } refused)
            {
                if (refused.Code is "invalid_token" or "missing_token")
                {
                    Send(replies.Numeric(IrcNumerics.PasswordMismatch, refused.Code == "missing_token" ? "Password required: PASS <access token> or SASL PLAIN" : "Password incorrect"));
                }

                connection.Close($"Closing link: {refused.Message}", drain: true);
                return;
            }

            admission = admitted.Value;
        }

        var user = admission!.User;
        identity = new IrcIdentity(userName!, realName ?? "", connection.Address);
        if (nick != user)
        {
            // The nick is the account's user name: a client that asked for another one is renamed.
            Send($":{nick}!{userName}@{connection.Address} NICK :{user}\r\n");
        }

        nick = user;
        replies.Nick = user;
        door.Users.Set(user, identity);
        view = new IrcChannelView(user, door.Plain, replies)
        {
            Echo = capabilities.Has("echo-message"),
            Redaction = capabilities.Has("draft/message-redaction"),
            MessageTags = capabilities.Has("message-tags"),
        };
        connection.Attach(view, capabilities.WantsTags ? door.Tagged : door.Plain);
        Send(Welcome());
        var admitted2 = admission;
        admission = null;
        client = await admitted2.ConnectAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask DisposeAdmissionAsync()
    {
        if (Interlocked.Exchange(ref admission, null) is { } unused)
        {
            await unused.DisposeAsync().ConfigureAwait(false);
        }
    }

    private string Welcome()
    {
        var name = replies.ServerName;
        var lines = new StringBuilder()
            .Append(replies.Numeric(IrcNumerics.Welcome, $"Welcome to the TinyChat IRC network {Source}"))
            .Append(replies.Numeric(IrcNumerics.YourHost, $"Your host is {name}, running TinyChat"))
            .Append(replies.Numeric(IrcNumerics.Created, $"This server was created {door.StartedAt:yyyy-MM-dd HH:mm:ss} UTC"))
            .Append(IrcFormat.Line(name, IrcNumerics.MyInfo, replies.Nick, name, "tinychat-1", "i", "biqo"));
        var tokens = new[]
        {
            "AWAYLEN=200", "CASEMAPPING=ascii", "CHATHISTORY=200", "CHANLIMIT=#:", "CHANMODES=bq,,,i", "CHANNELLEN=65", "CHANTYPES=#",
            "ELIST=", "MAXTARGETS=4", "MSGREFTYPES=msgid", $"NETWORK=TinyChat", "NICKLEN=32", "PREFIX=(ov)@+", "STATUSMSG=",
            $"TARGMAX=JOIN:,PART:,PRIVMSG:4,NOTICE:4,NAMES:,WHOIS:1,TAGMSG:4", "TOPICLEN=300", "USERLEN=10",
        };
        for (var i = 0; i < tokens.Length; i += 12)
        {
            lines.Append($":{name} {IrcNumerics.ISupport} {replies.Nick} {string.Join(' ', tokens.Skip(i).Take(12))} :are supported by this server\r\n");
        }

        return lines.Append(Lusers()).Append(Motd()).ToString();
    }

    private string Lusers()
    {
        var online = door.Chat.Sessions.OnlineUsers;
        return new StringBuilder()
            .Append(replies.Numeric(IrcNumerics.LuserClient, $"There are {online} users and 0 invisible on 1 servers"))
            .Append(replies.Numeric(IrcNumerics.LuserMe, $"I have {online} clients and 0 servers"))
            .Append(replies.Numeric(IrcNumerics.LocalUsers, $"{online}", $"{online}", $"Current local users {online}"))
            .Append(replies.Numeric(IrcNumerics.GlobalUsers, $"{online}", $"{online}", $"Current global users {online}"))
            .ToString();
    }

    private string Motd()
    {
        if (string.IsNullOrWhiteSpace(door.Options.Motd))
        {
            return replies.Numeric(IrcNumerics.NoMotd, "MOTD File is missing");
        }

        var lines = new StringBuilder(replies.Numeric(IrcNumerics.MotdStart, $"- {replies.ServerName} Message of the day - "));
        foreach (var text in door.Options.Motd.Split('\n'))
        {
            lines.Append(replies.Numeric(IrcNumerics.Motd, $"- {text.TrimEnd('\r')}"));
        }

        return lines.Append(replies.Numeric(IrcNumerics.EndOfMotd, "End of /MOTD command.")).ToString();
    }

    private void Pong(IrcLine line)
    {
        if (line[0] is not { } token)
        {
            Send(replies.Numeric(IrcNumerics.NoOrigin, "No origin specified"));
            return;
        }

        Send(IrcFormat.Line(replies.ServerName, "PONG", replies.ServerName, token));
    }
}
