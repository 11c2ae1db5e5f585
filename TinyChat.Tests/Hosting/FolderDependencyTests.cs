using System.Text.RegularExpressions;

namespace TinyChat.Tests.Hosting;

// docs/architecture.md: dependencies point inward and form no cycle; the core (Chat/, Runtime/) knows no JSON,
// sockets or SQL. Read from the sources, since a namespace used through a `using` leaves no trace in metadata
// when only a method body needs it.
public sealed partial class FolderDependencyTests
{
    private static readonly Lazy<Dictionary<string, HashSet<string>>> Edges = new(ReadEdges);

    [Test]
    public void No_two_folders_depend_on_each_other_even_through_others()
    {
        var edges = Edges.Value;
        foreach (var from in edges.Keys)
        {
            var path = PathBack(edges, from);
            Assert.That(path, Is.Null, $"dependency cycle: {string.Join(" -> ", path ?? [])}");
        }
    }

    [Test]
    public void The_core_depends_on_nothing_outside_it()
    {
        var edges = Edges.Value;
        Assert.That(edges["TinyChat.Runtime"], Is.Empty);
        Assert.That(edges["TinyChat.Chat"], Is.EquivalentTo(new[] { "TinyChat.Runtime" }));

        var foreign = new Regex(@"^using\s+(System\.Text\.Json|System\.Net|Microsoft\.Data\.Sqlite|Npgsql)\b", RegexOptions.Multiline);
        foreach (var file in SourceFiles().Where(f => f.Namespace is "TinyChat.Chat" or "TinyChat.Runtime"))
        {
            Assert.That(foreign.Match(file.Text).Value, Is.Empty, $"{file.Path} uses JSON, sockets or SQL");
        }
    }

    [Test]
    public void Only_the_entry_point_uses_the_composition()
    {
        var users = Edges.Value.Where(e => e.Value.Contains("TinyChat.Hosting")).Select(e => e.Key);
        Assert.That(users, Is.EquivalentTo(new[] { "TinyChat" }));
    }

    // A path from one of from's dependencies back to from, or null.
    private static List<string>? PathBack(Dictionary<string, HashSet<string>> edges, string from)
    {
        var seen = new HashSet<string>();
        var stack = new Stack<List<string>>(edges[from].Select(next => new List<string> { from, next }));
        while (stack.Count > 0)
        {
            var path = stack.Pop();
            var last = path[^1];
            if (last == from)
            {
                return path;
            }

            if (seen.Add(last) && edges.TryGetValue(last, out var onward))
            {
                foreach (var next in onward)
                {
                    stack.Push([.. path, next]);
                }
            }
        }

        return null;
    }

    private static Dictionary<string, HashSet<string>> ReadEdges()
    {
        var files = SourceFiles();
        var namespaces = files.Select(f => f.Namespace).ToHashSet();
        var declared = namespaces.ToDictionary(n => n, n => files.Where(f => f.Namespace == n)
            .SelectMany(f => TypeDeclaration().Matches(f.Text).Select(m => m.Groups[1].Value)).ToHashSet());
        var edges = namespaces.ToDictionary(n => n, _ => new HashSet<string>());
        foreach (var file in files)
        {
            // `using TinyChat.X;` and fully qualified names, then the enclosing namespaces' types, visible without a using.
            var used = NamespaceUse().Matches(file.Text).Select(m => m.Groups[1].Value)
                .Concat(QualifiedName().Matches(file.Text).Select(m => LongestNamespace(m.Value, namespaces)))
                .Where(namespaces.Contains)
                .ToHashSet();
            for (var outer = file.Namespace; outer.Contains('.');)
            {
                outer = outer[..outer.LastIndexOf('.')];
                if (declared.TryGetValue(outer, out var types) && types.Any(t => Regex.IsMatch(file.Text, $@"\b{t}\b")))
                {
                    used.Add(outer);
                }
            }

            used.Remove(file.Namespace);
            edges[file.Namespace].UnionWith(used);
        }

        return edges;
    }

    // TinyChat.Hosting.StartupProblem.Of -> TinyChat.Hosting
    private static string LongestNamespace(string name, HashSet<string> namespaces)
    {
        while (name.Contains('.') && !namespaces.Contains(name))
        {
            name = name[..name.LastIndexOf('.')];
        }

        return name;
    }

    private static List<(string Path, string Namespace, string Text)> SourceFiles()
    {
        var root = Path.Combine(RepositoryRoot(), "TinyChat");
        var separator = Path.DirectorySeparatorChar;
        return [.. Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{separator}obj{separator}", StringComparison.Ordinal) && !p.Contains($"{separator}bin{separator}", StringComparison.Ordinal))
            .Select(p =>
            {
                var text = LineComment().Replace(File.ReadAllText(p), "");
                var name = NamespaceDeclaration().Match(text);
                Assert.That(name.Success, Is.True, $"{p} declares no namespace");
                return (p, name.Groups[1].Value, NamespaceDeclaration().Replace(text, ""));
            })];
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "TinyChat.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no TinyChat.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"^using\s+(?:static\s+)?(TinyChat[\w.]*)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceUse();

    [GeneratedRegex(@"\bTinyChat(?:\.\w+)+")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"\b(?:class|record|struct|interface|enum)\s+(\w+)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex LineComment();
}
