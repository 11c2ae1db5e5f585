using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using TinyChat.Chat;
using static Microsoft.Playwright.Assertions;

namespace TinyChat.Tests.Browser;

/// <summary>The sign-in screen shows what registering takes on this server (<c>Chat:Registration</c>).</summary>
[TestFixture("invite")]
[TestFixture("closed")]
public sealed class RegistrationScreenTests(string mode) : BrowserTest
{
    protected override IDictionary<string, string>? ServerSettings => new Dictionary<string, string> { ["Chat:Registration"] = mode };

    [Test]
    public async Task The_sign_in_screen_asks_for_an_invite_code_or_says_registration_is_closed()
    {
        var visitor = await OpenChatAsync(token: null, "visitor");
        var page = visitor.Page;
        await Expect(page.GetByLabel("Access token")).ToBeVisibleAsync();

        if (mode == "closed")
        {
            await Expect(page.Locator("#registration-closed")).ToBeVisibleAsync();
            await Expect(page.Locator("#registration-closed")).ToContainTextAsync("does not take registrations");
            await Expect(page.GetByLabel("Choose a user name")).ToBeHiddenAsync();
            await Expect(page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Register" })).ToBeHiddenAsync();

            // Signing in with a token an administrator handed out still works.
            await page.GetByLabel("Access token").FillAsync("foo_token");
            await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign in" }).ClickAsync();
            await Expect(visitor.Me).ToHaveTextAsync("foo_user");
            return;
        }

        await Expect(page.Locator("#registration-closed")).ToBeHiddenAsync();
        var invite = page.GetByLabel("Invite code");
        await Expect(invite).ToBeVisibleAsync();
        await page.GetByLabel("Choose a user name").FillAsync("alice");
        await invite.FillAsync("not-a-code");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Register" }).ClickAsync();
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("invalid_invite");

        var code = InviteCodes.New();
        await Server.Services.GetRequiredService<IInviteStore>().CreateInviteAsync(code, 1, DateTimeOffset.UtcNow.AddHours(1), CancellationToken.None);
        await invite.FillAsync(code);
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Register" }).ClickAsync();
        await Expect(visitor.Status).ToHaveTextAsync("Connected");
        await Expect(visitor.Me).ToHaveTextAsync("alice");
        await Expect(visitor.Notices.First).ToContainTextAsync("Save this now");
    }
}
