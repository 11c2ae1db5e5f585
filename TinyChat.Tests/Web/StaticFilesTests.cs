using TinyChat.Web;

namespace TinyChat.Tests.Web;

public sealed class StaticFilesTests
{
    private string root = null!;

    [SetUp]
    public void MakeRoot()
    {
        root = Path.Combine(Path.GetTempPath(), "tinychat-static-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(root, "css"));
        File.WriteAllText(Path.Combine(root, "chat.html"), "<html></html>");
        File.WriteAllText(Path.Combine(root, "css", "app.css"), "body{}");
        File.WriteAllText(Path.Combine(root, ".secret"), "x");
    }

    [TearDown]
    public void RemoveRoot() => Directory.Delete(root, recursive: true);

    [TestCase("/", "chat.html")]
    [TestCase("/chat.html", "chat.html")]
    [TestCase("/css/app.css", "css/app.css")]
    [TestCase("/chat.html?access_token=x", "chat.html")]
    public void Files_under_the_root_resolve(string raw, string expected)
    {
        Assert.That(new StaticFiles(root).Resolve(raw), Is.EqualTo(Path.Combine(root, expected)));
    }

    [TestCase("/../x")]
    [TestCase("/%2e%2e/x")]
    [TestCase("/css%2fapp.css")]
    [TestCase("/css\\app.css")]
    [TestCase("/.secret")]
    [TestCase("/%00")]
    [TestCase("relative.html")]
    [TestCase("/%zz")]
    public void Suspicious_paths_resolve_to_nothing(string raw)
    {
        Assert.That(new StaticFiles(root).Resolve(raw), Is.Null);
    }

    [TestCase("a.html", "text/html; charset=utf-8")]
    [TestCase("a.js", "text/javascript; charset=utf-8")]
    [TestCase("a.css", "text/css; charset=utf-8")]
    [TestCase("a.png", "image/png")]
    [TestCase("a.bin", "application/octet-stream")]
    public void Content_types_follow_the_extension(string file, string type)
    {
        Assert.That(StaticFiles.ContentTypeOf(file), Is.EqualTo(type));
    }
}
