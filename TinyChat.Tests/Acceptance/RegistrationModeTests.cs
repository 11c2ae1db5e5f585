using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Admin;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Acceptance;

/// <summary>
/// Who may sign up (issue 17, item 4), over real HTTP for each <c>Chat:Registration</c> mode, with invite codes made
/// by the admin command line on the server's own SQLite file while it runs.
/// </summary>
public sealed class RegistrationModeTests
{
    private TestServer? server;

    [TearDown]
    public async Task StopServer()
    {
        if (server is not null)
        {
            await server.DisposeAsync();
        }
    }

    private async Task<TestServer> StartAsync(string? mode, string? provider = null)
    {
        var overrides = new Dictionary<string, string>();
        if (provider is not null)
        {
            overrides["Storage:Provider"] = provider;
        }

        if (mode is not null)
        {
            overrides["Chat:Registration"] = mode;
        }

        server = await TestServer.StartAsync(overrides);
        return server;
    }

    private Task<AdminRun> Admin(params string[] args) =>
        AdminRun.RunAsync([.. args, "--config", Path.Combine(server!.Directory, "chat.config.json"), "--data", Path.Combine(server.Directory, "data")]);

    private async Task<string> ModeAsync() =>
        (await server!.Http.GetFromJsonAsync<JsonElement>("/api/registration")).GetProperty("mode").GetString()!;

    private async Task<(HttpStatusCode Status, JsonElement Body)> SignUpAsync(string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await server!.Http.PostAsync("/api/users", content);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    [Test]
    public async Task Open_is_the_default_anyone_registers_and_an_invite_code_is_not_needed()
    {
        await StartAsync(mode: null);

        Assert.That(await ModeAsync(), Is.EqualTo("open"));
        var (status, body) = await SignUpAsync("""{"username":"alice"}""");
        Assert.That(status, Is.EqualTo(HttpStatusCode.Created));
        var (withCode, _) = await SignUpAsync("""{"username":"bob","invite":"whatever"}""");
        Assert.That(withCode, Is.EqualTo(HttpStatusCode.Created), "a code is ignored when registration is open");

        await using var alice = await server!.ConnectAsync(body.GetProperty("access_token").GetString()!);
        Assert.That((await alice.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo("alice"));
    }

    [Test]
    public async Task Closed_refuses_every_registration_with_403_and_accounts_come_from_the_admin_command_line()
    {
        await StartAsync("closed");

        Assert.That(await ModeAsync(), Is.EqualTo("closed"));
        var (status, body) = await SignUpAsync("""{"username":"alice","invite":"anything"}""");
        Assert.That(status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("registration_closed"));
        Assert.That(body.GetProperty("error").GetString(), Does.Contain("administrator"));

        var added = await Admin("users", "add", "alice");
        Assert.That(added.ExitCode, Is.Zero, added.ToString());
        await using var alice = await server!.ConnectAsync(added.Lines[0]);
        Assert.That((await alice.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo("alice"));
    }

    [Test]
    public async Task Invite_needs_a_valid_code_made_by_an_admin_and_a_one_use_code_registers_one_account()
    {
        await StartAsync("invite");
        Assert.That(await ModeAsync(), Is.EqualTo("invite"));

        var (missing, missingBody) = await SignUpAsync("""{"username":"alice"}""");
        Assert.That((missing, missingBody.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.Forbidden, "invite_required")));
        var (empty, emptyBody) = await SignUpAsync("""{"username":"alice","invite":""}""");
        Assert.That((empty, emptyBody.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.Forbidden, "invite_required")));
        var (bogus, bogusBody) = await SignUpAsync("""{"username":"alice","invite":"not-a-code"}""");
        Assert.That((bogus, bogusBody.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.Forbidden, "invalid_invite")));

        var created = await Admin("invites", "create", "--uses", "1", "--expires-in", "1h");
        Assert.That(created.ExitCode, Is.Zero, created.ToString());
        var code = created.Lines.Single();
        Assert.That(code, Does.Match("^[A-Za-z0-9_-]{22}$"));

        var (badName, badNameBody) = await SignUpAsync($$"""{"username":"no spaces","invite":"{{code}}"}""");
        Assert.That((badName, badNameBody.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.BadRequest, "invalid_username")));
        var (taken, takenBody) = await SignUpAsync($$"""{"username":"foo_user","invite":"{{code}}"}""");
        Assert.That((taken, takenBody.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.Conflict, "username_taken")), "a taken name does not use the code");

        var (ok, okBody) = await SignUpAsync($$"""{"username":"alice","invite":" {{code}} "}""");
        Assert.That(ok, Is.EqualTo(HttpStatusCode.Created), okBody.ToString());
        var (again, againBody) = await SignUpAsync($$"""{"username":"bob","invite":"{{code}}"}""");
        Assert.That((again, againBody.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.Forbidden, "invalid_invite")), "used up");

        var list = await Admin("invites", "list");
        Assert.That(list.ExitCode, Is.Zero, list.ToString());
        Assert.That(list.Lines[0], Does.Match(@"^ID\s+CODE\s+USES LEFT\s+EXPIRES\s+CREATED\s+STATE$"));
        Assert.That(list.Lines[1], Does.Match($@"^1\s+{code[..4]}…\s+0/1\s+\S+ \S+Z\s+\S+ \S+Z\s+used up$"));
        Assert.That(list.Output, Does.Not.Contain(code), "the code is never shown again");

        await using var alice = await server!.ConnectAsync(okBody.GetProperty("access_token").GetString()!);
        Assert.That((await alice.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo("alice"));
    }

    [Test]
    public async Task A_revoked_invite_registers_nobody_and_a_code_with_uses_serves_that_many()
    {
        await StartAsync("invite");
        var three = (await Admin("invites", "create", "--uses", "3")).Lines.Single();
        var revoked = (await Admin("invites", "create")).Lines.Single();

        var revoke = await Admin("invites", "revoke", revoked);
        Assert.That(revoke.ExitCode, Is.Zero, revoke.ToString());
        Assert.That((await SignUpAsync($$"""{"username":"eve","invite":"{{revoked}}"}""")).Status, Is.EqualTo(HttpStatusCode.Forbidden));
        var again = await Admin("invites", "revoke", revoked);
        Assert.That((again.ExitCode, again.Error.Trim()), Is.EqualTo((1, $"tinychat: no invite code {revoked}")));

        for (var i = 0; i < 3; i++)
        {
            Assert.That((await SignUpAsync($$"""{"username":"user{{i}}","invite":"{{three}}"}""")).Status, Is.EqualTo(HttpStatusCode.Created));
        }

        Assert.That((await SignUpAsync($$"""{"username":"user3","invite":"{{three}}"}""")).Status, Is.EqualTo(HttpStatusCode.Forbidden));
        var byId = await Admin("invites", "revoke", "1");
        Assert.That(byId.ExitCode, Is.Zero, byId.ToString());
        Assert.That((await Admin("invites", "list")).Lines, Has.Length.EqualTo(1), "only the header is left");
    }

    [Test]
    public async Task An_invite_field_that_is_not_a_string_is_a_400()
    {
        await StartAsync("invite");

        var (status, body) = await SignUpAsync("""{"username":"alice","invite":42}""");

        Assert.That((status, body.GetProperty("code").GetString()), Is.EqualTo((HttpStatusCode.BadRequest, "bad_request")));
    }

    [TestCase(new[] { "invites", "create", "--uses", "0" }, "--uses must be 1..1000000, got 0")]
    [TestCase(new[] { "invites", "create", "--expires-in", "7x" }, "--expires-in: a lifetime is a positive whole number")]
    [TestCase(new[] { "invites", "create", "--expires-in", "0d" }, "--expires-in: a lifetime is a positive whole number")]
    [TestCase(new[] { "invites", "create", "--expires-in", "3651d" }, "at most 3650d")]
    public async Task A_bad_invites_create_is_exit_2_with_one_line(string[] args, string expected)
    {
        await StartAsync("invite");

        var run = await Admin(args);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(run.Error, Does.Contain(expected));
        Assert.That((await Admin("invites", "list")).Lines, Has.Length.EqualTo(1), "nothing was created");
    }

    [TestCase("sqlite")]
    [TestCase("memory")]
    public async Task A_server_admin_creates_lists_and_revokes_invite_codes_over_HTTP_and_nobody_else_may(string provider)
    {
        await StartAsync("invite", provider);

        async Task<(HttpStatusCode Status, string Body, Uri? Location)> CallAsync(HttpMethod method, string path, string? token, string? json = null)
        {
            using var request = new HttpRequestMessage(method, path);
            if (token is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            }

            if (json is not null)
            {
                request.Content = new StringContent(json, Encoding.UTF8, "application/json");
            }

            using var response = await server!.Http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location);
        }

        Assert.That((await CallAsync(HttpMethod.Post, "/api/invites", null, "{}")).Status, Is.EqualTo(HttpStatusCode.Unauthorized));
        var notAdmin = await CallAsync(HttpMethod.Post, "/api/invites", "bar_token", "{}");
        Assert.That((notAdmin.Status, notAdmin.Body), Is.EqualTo((HttpStatusCode.Forbidden, """{"error":"only server admins manage invite codes","code":"forbidden"}""")));
        Assert.That((await CallAsync(HttpMethod.Get, "/api/invites", "bar_token")).Status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await CallAsync(HttpMethod.Post, "/api/invites", "foo_token", """{"uses":0}""")).Status, Is.EqualTo((HttpStatusCode)422));
        Assert.That((await CallAsync(HttpMethod.Post, "/api/invites", "foo_token", """{"expires_in":"soon"}""")).Status, Is.EqualTo((HttpStatusCode)422));
        Assert.That((await CallAsync(HttpMethod.Put, "/api/invites", "foo_token")).Status, Is.EqualTo(HttpStatusCode.MethodNotAllowed));

        var created = await CallAsync(HttpMethod.Post, "/api/invites", "foo_token", """{"uses":2,"expires_in":"1h"}""");
        Assert.That(created.Status, Is.EqualTo(HttpStatusCode.Created), created.Body);
        using var invite = JsonDocument.Parse(created.Body);
        var code = invite.RootElement.GetProperty("code").GetString()!;
        var id = invite.RootElement.GetProperty("id").GetInt64();
        Assert.That(created.Location?.OriginalString, Is.EqualTo($"/api/invites/{id}"));
        Assert.That(invite.RootElement.GetProperty("uses_left").GetInt32(), Is.EqualTo(2));
        Assert.That(DateTimeOffset.Parse(invite.RootElement.GetProperty("expires_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.UtcNow, Is.InRange(TimeSpan.FromMinutes(59), TimeSpan.FromMinutes(61)));

        Assert.That((await SignUpAsync($$"""{"username":"alice","invite":"{{code}}"}""")).Status, Is.EqualTo(HttpStatusCode.Created));
        var listed = await CallAsync(HttpMethod.Get, "/api/invites", "foo_token");
        using (var list = JsonDocument.Parse(listed.Body))
        {
            var only = list.RootElement.GetProperty("invites").EnumerateArray().Single();
            Assert.That((only.GetProperty("id").GetInt64(), only.GetProperty("hint").GetString(), only.GetProperty("uses_left").GetInt32()), Is.EqualTo((id, code[..4], 1)));
            Assert.That(only.TryGetProperty("code", out _), Is.False, "a code is shown only when created");
        }

        Assert.That((await CallAsync(HttpMethod.Delete, $"/api/invites/{id}", "bar_token")).Status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await CallAsync(HttpMethod.Delete, $"/api/invites/{id}", "foo_token")).Status, Is.EqualTo(HttpStatusCode.NoContent));
        var gone = await CallAsync(HttpMethod.Delete, $"/api/invites/{id}", "foo_token");
        Assert.That(gone.Status, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(gone.Body, Does.Contain("invite_not_found"));
        Assert.That((await CallAsync(HttpMethod.Delete, "/api/invites/abc", "foo_token")).Status, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await SignUpAsync($$"""{"username":"bob","invite":"{{code}}"}""")).Status, Is.EqualTo(HttpStatusCode.Forbidden), "revoked");
    }
}
