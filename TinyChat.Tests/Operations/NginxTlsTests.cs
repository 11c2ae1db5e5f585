using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Operations;

/// <summary>
/// The docs/deploy.md recipe for real: Debian's nginx with a self-signed certificate made now, on free ports, every
/// path (pid, logs, temp) in a temp folder, in front of TinyChat; a client chats over wss:// and reads an SSE stream
/// over HTTP/2 through it, posting on the same HTTP/2 connection.
/// </summary>
[Category("Process")]
public sealed class NginxTlsTests
{
    private const string Nginx = "/usr/sbin/nginx";
    private string folder = null!;
    private Process? nginx;

    [SetUp]
    public void CreateFolder()
    {
        Assert.That(File.Exists(Nginx), Is.True, "Debian's nginx is missing: make test installs it (make nginx)");
        folder = Directory.CreateTempSubdirectory("tinychat-nginx-").FullName;
        if (!OperatingSystem.IsLinux())
        {
            return;
        }


        // nginx started as root runs its workers as nobody: they must reach the folder.
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    [TearDown]
    public async Task StopNginx()
    {
        if (nginx is { HasExited: false })
        {
            nginx.Kill(entireProcessTree: true);
            await nginx.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        nginx?.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Test]
    public async Task Through_nginx_with_tls_a_client_chats_over_wss_and_reads_an_event_stream_over_http2()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Server:TrustedProxies:0"] = "127.0.0.1" });
        var certificate = await MakeCertificateAsync();
        var port = ServerProcess.FreePort();
        await StartNginxAsync(port, server.BaseUri.Port);
        bool Trusted(object sender, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors) =>
            presented is not null && presented.GetCertHashString() == certificate.GetCertHashString();

        // wss://: the native protocol through the proxy's WebSocket upgrade.
        await using var foo = await ChatSocket.ConnectAsync(
            new Uri($"wss://127.0.0.1:{port}/chat?access_token=foo_token"),
            o => o.RemoteCertificateValidationCallback = Trusted);
        await foo.RequestAsync(Frame(("command", "join")));

        // HTTP/2 to the proxy: the stream and the posts share one TLS connection.
        using var handler = new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = Trusted } };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}/"), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        http.DefaultRequestHeaders.Authorization = new("Bearer", "foo_token");
        using var streamRequest = new HttpRequestMessage(HttpMethod.Get, "/api/rooms/default/events") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var stream = await http.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.That(stream.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(stream.Version, Is.EqualTo(HttpVersion.Version20));
        Assert.That(stream.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/event-stream"));
        using var events = new StreamReader(await stream.Content.ReadAsStreamAsync(timeout.Token), Encoding.UTF8);

        await foo.SendAsync(new { room = "default", message = "over wss" });
        var echoed = await foo.ExpectAsync(f => f.TryGetProperty("from", out _));
        Assert.That(echoed.GetProperty("message").GetString(), Is.EqualTo("over wss"));
        using (var post = await http.PostAsync("/api/rooms/default/messages", new StringContent("""{"message":"over h2"}""", Encoding.UTF8, "application/json"), timeout.Token))
        {
            Assert.That(post.StatusCode, Is.EqualTo(HttpStatusCode.Created), await post.Content.ReadAsStringAsync(timeout.Token));
            Assert.That(post.Version, Is.EqualTo(HttpVersion.Version20));
        }

        var seen = new List<string>();
        while (seen.Count < 2)
        {
            var line = await events.ReadLineAsync(timeout.Token) ?? throw new AssertionException("the stream ended");
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                var data = JsonDocument.Parse(line["data:".Length..]).RootElement;
                if (data.TryGetProperty("message", out var message))
                {
                    seen.Add(message.GetString()!);
                }
            }
        }

        Assert.That(seen, Is.EqualTo(new[] { "over wss", "over h2" }));
        var access = await File.ReadAllTextAsync(Path.Combine(folder, "access.log"), timeout.Token);
        Assert.That(access, Does.Contain("\"POST /api/rooms/default/messages HTTP/2.0\" 201"), "logged when it ends; the open stream is not yet");
        Assert.That(access, Does.Not.Contain("foo_token"), "the recipe's log format leaves the query string out");
    }

    private async Task<X509Certificate2> MakeCertificateAsync()
    {
        using var openssl = Process.Start(new ProcessStartInfo("openssl")
        {
            ArgumentList =
            {
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", Path.Combine(folder, "key.pem"), "-out", Path.Combine(folder, "cert.pem"),
            },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var error = await openssl.StandardError.ReadToEndAsync();
        await openssl.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(openssl.ExitCode, Is.Zero, error);
        return X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "cert.pem"));
    }

    private async Task StartNginxAsync(int port, int upstream)
    {
        var version = await NginxVersionAsync();

        // "http2 on" is nginx 1.25.1's spelling; Debian 12's 1.22 turns HTTP/2 on in the listen line.
        var modern = version >= new Version(1, 25, 1);
        var site = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "deploy", "nginx-tinychat.conf"))
            .Replace("listen 443 ssl;", modern ? $"listen 127.0.0.1:{port} ssl;" : $"listen 127.0.0.1:{port} ssl http2;", StringComparison.Ordinal)
            .Replace("http2 on;", modern ? "http2 on;" : "", StringComparison.Ordinal)
            .Replace("server 127.0.0.1:4000;", $"server 127.0.0.1:{upstream};", StringComparison.Ordinal)
            .Replace("/etc/ssl/tinychat/fullchain.pem", Path.Combine(folder, "cert.pem"), StringComparison.Ordinal)
            .Replace("/etc/ssl/tinychat/privkey.pem", Path.Combine(folder, "key.pem"), StringComparison.Ordinal)
            .Replace("/var/log/nginx/tinychat.access.log", Path.Combine(folder, "access.log"), StringComparison.Ordinal);
        var config = $$"""
            daemon off;
            worker_processes 1;
            pid {{folder}}/nginx.pid;
            error_log {{folder}}/error.log info;
            events { worker_connections 256; }
            http {
                client_body_temp_path {{folder}}/client_body;
                proxy_temp_path {{folder}}/proxy;
                fastcgi_temp_path {{folder}}/fastcgi;
                uwsgi_temp_path {{folder}}/uwsgi;
                scgi_temp_path {{folder}}/scgi;
                {{site}}
            }
            """;
        var path = Path.Combine(folder, "nginx.conf");
        await File.WriteAllTextAsync(path, config);
        var info = new ProcessStartInfo(Nginx) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-p", folder, "-e", Path.Combine(folder, "error.log"), "-c", path })
        {
            info.ArgumentList.Add(arg);
        }

        nginx = Process.Start(info)!;

        // Ready when the port accepts; bounded in attempts and time.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        for (var attempt = 0; ; attempt++)
        {
            Assert.That(nginx.HasExited, Is.False, () => $"nginx exited: {File.ReadAllText(Path.Combine(folder, "error.log"))}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
                return;
            }
            catch (SocketException) when (attempt < 200)
            {
                await Task.Delay(50, timeout.Token);
            }
        }
    }

    private static async Task<Version> NginxVersionAsync()
    {
        using var process = Process.Start(new ProcessStartInfo(Nginx, "-v") { RedirectStandardError = true })!;
        var text = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var number = System.Text.RegularExpressions.Regex.Match(text, @"nginx/(\d+\.\d+\.\d+)").Groups[1].Value;
        return Version.Parse(number);
    }
}
