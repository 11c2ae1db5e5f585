using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary><c>Chat:Registration</c> decided once in the core, for every door that registers; the in-memory store's invites.</summary>
[TestFixture]
public sealed class RegistrationTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task<string?> RegisterAsync(ChatCore core, string name, string? invite = null) =>
        (await core.Server.RegisterAsync(name, invite, None)).Error?.Code;

    [Test]
    public async Task Closed_refuses_before_anything_else_is_looked_at()
    {
        await using var core = await ChatCore.StartAsync(new ChatLimits(4000, 64, 64) { Registration = RegistrationMode.Closed });

        Assert.That(await RegisterAsync(core, "alice"), Is.EqualTo("registration_closed"));
        Assert.That(await RegisterAsync(core, "not a name!", "code"), Is.EqualTo("registration_closed"));
    }

    [Test]
    public async Task Invite_checks_the_name_then_wants_a_code_and_takes_one_use_of_it()
    {
        await using var core = await ChatCore.StartAsync(new ChatLimits(4000, 64, 64) { Registration = RegistrationMode.Invite }, "foo");
        await core.Store.CreateInviteAsync("good-code", 1, DateTimeOffset.UtcNow.AddHours(1), None);
        await core.Store.CreateInviteAsync("old-code", 1, DateTimeOffset.UtcNow.AddSeconds(-1), None);

        Assert.That(await RegisterAsync(core, "not a name!"), Is.EqualTo("invalid_username"));
        Assert.That(await RegisterAsync(core, "alice"), Is.EqualTo("invite_required"));
        Assert.That(await RegisterAsync(core, "alice", "old-code"), Is.EqualTo("invalid_invite"));
        Assert.That(await RegisterAsync(core, "foo", "good-code"), Is.EqualTo("username_taken"));
        Assert.That(await RegisterAsync(core, "alice", "good-code"), Is.Null);
        Assert.That(await RegisterAsync(core, "bob", "good-code"), Is.EqualTo("invalid_invite"));
        Assert.That((await core.Store.ListInvitesAsync(None)).Select(i => i.UsesLeft), Is.EqualTo(new[] { 0, 1 }));
    }

    [Test]
    public async Task Open_registers_anyone_and_ignores_a_code()
    {
        await using var core = await ChatCore.StartAsync(new ChatLimits(4000, 64, 64));

        Assert.That(await RegisterAsync(core, "alice"), Is.Null);
        Assert.That(await RegisterAsync(core, "bob", "no-such-code"), Is.Null);
        Assert.That(await RegisterAsync(core, "alice"), Is.EqualTo("username_taken"));
    }
}
