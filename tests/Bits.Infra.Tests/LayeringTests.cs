using System.Text.RegularExpressions;
using System.Xml.Linq;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>
/// The map in docs/architecture.md holds: every project's references follow its tables (the rules and the known
/// exceptions are read from the doc, so the doc and this test are one list), and the Fragment path names code that
/// exists.
/// </summary>
public partial class LayeringTests
{
    private const string RulesBlock = "layering-rules";
    private const string ExceptionsBlock = "layering-exceptions";
    private const string FragmentPathBlock = "fragment-path";

    private static readonly Lazy<string> Doc = new(() => File.ReadAllText(RepoPaths.Architecture));

    private static readonly Lazy<IReadOnlyList<Rule>> Rules = new(() =>
        Table(RulesBlock).Select(row => new Rule(Single(row["Projects"]), Names(row["May reference only"]), Names(row["Must not use"]))).ToList());

    private static readonly Lazy<IReadOnlyList<(string Project, string Reference)>> Exceptions = new(() =>
        Table(ExceptionsBlock, mayBeEmpty: true).Select(row => (Single(row["Project"]), Single(row["References"]))).ToList());

    private static readonly Lazy<IReadOnlyList<Project>> Projects = new(() =>
        new[] { "src", "tests", "tools" }
            .SelectMany(folder => SourceFiles(Path.Combine(RepoPaths.Root, folder), "*.csproj"))
            .Select(Project.Load).OrderBy(p => p.Id, StringComparer.Ordinal).ToList());

    [Fact]
    public void Projects_AreFound()
    {
        Assert.Contains(Projects.Value, p => p.Id == "src/Bits.Protocol");
        Assert.Contains(Projects.Value, p => p.Id == "tests/Bits.Infra.Tests");
        Assert.Contains(Projects.Value, p => p.Id == "tools/Bits.Load" && p.References.Contains("tools/Bits.Testing.Hosting"));
        Assert.Contains(Projects.Value, p => p.Id == "tools/Bits.Testing.Hosting" && p.References.Contains("src/Bits.Host"));
        Assert.Contains(Projects.Value, p => p.Id == "src/Bits.Storage.Azure" && p.Packages.Contains("Azure.Storage.Blobs"));
        Assert.Contains(Projects.Value, p => p.Id == "src/Bits.Host" && p.Packages.Contains(Project.AspNetCoreFramework));
    }

    /// <summary>The promises issue 17 starts from stay in the map: a looser row fails here, not silently.</summary>
    [Fact]
    public void Map_KeepsTheCoreRules()
    {
        var protocol = Assert.Single(Rules.Value, r => r.Projects == "src/Bits.Protocol");
        Assert.Empty(protocol.MayReference);
        Assert.Subset(protocol.MustNotUse.ToHashSet(), new HashSet<string> { "Azure.*", "Microsoft.Azure.*", "Microsoft.AspNetCore*" });

        var shipped = Assert.Single(Rules.Value, r => r.Projects == "src/*");
        Assert.Equal(new[] { "src/*" }, shipped.MayReference);

        var tools = Assert.Single(Rules.Value, r => r.Projects == "tools/*");
        Assert.DoesNotContain(tools.MayReference, p => p.StartsWith("tests/", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryProject_IsOnTheMap()
    {
        var unmapped = Projects.Value.Where(p => !Rules.Value.Any(r => r.Applies(p.Id))).Select(p => p.Id).ToList();
        Assert.True(unmapped.Count == 0, $"docs/architecture.md's map has no row for: {string.Join(", ", unmapped)}");
    }

    [Fact]
    public void EveryRow_NamesAProject()
    {
        var stale = Rules.Value.Where(r => !Projects.Value.Any(p => r.Applies(p.Id))).Select(r => r.Projects)
            .Concat(Exceptions.Value.Where(e => Projects.Value.All(p => p.Id != e.Project)).Select(e => e.Project)).ToList();
        Assert.True(stale.Count == 0, $"docs/architecture.md's map names projects that do not exist: {string.Join(", ", stale)}");
    }

    [Fact]
    public void ProjectReferences_FollowTheMap()
    {
        var broken = (
            from project in Projects.Value
            from reference in project.References
            where !Exceptions.Value.Contains((project.Id, reference))
            from rule in Rules.Value
            where rule.Applies(project.Id) && !rule.MayReference.Any(allowed => Matches(allowed, reference))
            select $"{project.Id} references {reference}, which the row `{rule.Projects}` does not allow").ToList();

        Assert.True(broken.Count == 0, "Project references break the map in docs/architecture.md:\n" + string.Join("\n", broken));
    }

    [Fact]
    public void Packages_FollowTheMap()
    {
        var broken = (
            from project in Projects.Value
            from package in project.Packages
            from rule in Rules.Value
            where rule.Applies(project.Id)
            from forbidden in rule.MustNotUse
            where Matches(forbidden, package)
            select $"{project.Id} uses {package}, which the row `{rule.Projects}` forbids ({forbidden})").ToList();

        Assert.True(broken.Count == 0, "Package references break the map in docs/architecture.md:\n" + string.Join("\n", broken));
    }

    /// <summary>A known exception that was removed from the code must leave the doc too.</summary>
    [Fact]
    public void KnownExceptions_StillExist()
    {
        var gone = Exceptions.Value
            .Where(e => !Projects.Value.Any(p => p.Id == e.Project && p.References.Contains(e.Reference)))
            .Select(e => $"{e.Project} -> {e.Reference}").ToList();
        Assert.True(gone.Count == 0, $"Known exceptions in docs/architecture.md no longer occur; delete their rows: {string.Join(", ", gone)}");
    }

    [Fact]
    public void FragmentPath_NamesMethodsThatExist()
    {
        var sources = SourceFiles(RepoPaths.Src, "*.cs").Select(File.ReadAllText).ToList();
        var hops = MemberName().Matches(Block(FragmentPathBlock)).Select(m => (Type: m.Groups["type"].Value, Member: m.Groups["member"].Value)).Distinct().ToList();

        Assert.True(hops.Count >= 8, $"The Fragment path names only {hops.Count} Type.Method pairs.");
        var missing = hops.Where(hop => !sources.Any(source =>
                Regex.IsMatch(source, $@"\b(class|interface|record|struct)\s+{hop.Type}\b") && Regex.IsMatch(source, $@"\b{hop.Member}\s*\(")))
            .Select(hop => $"{hop.Type}.{hop.Member}").ToList();
        Assert.True(missing.Count == 0, $"docs/architecture.md's Fragment path names code that does not exist: {string.Join(", ", missing)}");
    }

    /// <summary>Files under a folder, without build output (bin/, obj/: the Functions SDK generates a project there).</summary>
    internal static IEnumerable<string> SourceFiles(string folder, string pattern) =>
        Directory.EnumerateFiles(folder, pattern, SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(folder, f).Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"));

    private static bool Matches(string pattern, string name) =>
        Regex.IsMatch(name, "^" + Regex.Escape(pattern).Replace(@"\*", "[^/]*", StringComparison.Ordinal) + "$", RegexOptions.IgnoreCase);

    private static string Block(string name)
    {
        var start = Doc.Value.IndexOf($"<!-- {name}:start -->", StringComparison.Ordinal);
        var end = Doc.Value.IndexOf($"<!-- {name}:end -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"docs/architecture.md has no <!-- {name}:start --> ... <!-- {name}:end --> block.");
        return Doc.Value[start..end];
    }

    /// <summary>The rows of the Markdown table in a block, each as column name → cell (a table of known exceptions
    /// may be just its header: none left).</summary>
    private static List<Dictionary<string, string>> Table(string block, bool mayBeEmpty = false)
    {
        var rows = Block(block).Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('|'))
            .Select(l => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
        Assert.True(rows.Count >= 2, $"The {block} block holds no table.");
        Assert.True(mayBeEmpty || rows.Count > 2, $"The {block} block holds no table rows.");
        var header = rows[0];
        return rows.Skip(2).Select(cells => header.Zip(cells).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal)).ToList();
    }

    /// <summary>The backticked names in a cell; <c>(none)</c> is the empty list.</summary>
    private static List<string> Names(string cell) =>
        cell == "(none)" ? [] : Code().Matches(cell).Select(m => m.Groups[1].Value).ToList() is { Count: > 0 } names
            ? names
            : throw new InvalidOperationException($"Cell '{cell}' in docs/architecture.md's map is neither (none) nor backticked names.");

    private static string Single(string cell) => Assert.Single(Names(cell));

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Code();

    [GeneratedRegex(@"`(?<type>[A-Z]\w*)\.(?<member>[A-Z]\w*)`")]
    private static partial Regex MemberName();

    private sealed record Rule(string Projects, IReadOnlyList<string> MayReference, IReadOnlyList<string> MustNotUse)
    {
        public bool Applies(string project) => Matches(Projects, project);
    }

    /// <summary>A project by its folder relative to the repository root (<c>src/Bits.Protocol</c>), with what it references.</summary>
    private sealed record Project(string Id, IReadOnlyList<string> References, IReadOnlyList<string> Packages)
    {
        public const string AspNetCoreFramework = "Microsoft.AspNetCore.App";

        public static Project Load(string path)
        {
            var folder = Path.GetDirectoryName(path)!;
            var xml = XDocument.Load(path);
            var includes = (string element) => xml.Descendants(element).Select(e => (string?)e.Attribute("Include")).OfType<string>();
            var references = includes("ProjectReference").Select(r => IdOf(Path.GetDirectoryName(Path.GetFullPath(Path.Combine(folder, r)))!)).ToList();
            var packages = includes("PackageReference").Concat(includes("FrameworkReference")).ToList();
            if (string.Equals((string?)xml.Root?.Attribute("Sdk"), "Microsoft.NET.Sdk.Web", StringComparison.OrdinalIgnoreCase))
            {
                packages.Add(AspNetCoreFramework);
            }

            return new Project(IdOf(folder), references, packages.Distinct(StringComparer.OrdinalIgnoreCase).ToList());
        }

        private static string IdOf(string folder) => Path.GetRelativePath(RepoPaths.Root, folder).Replace('\\', '/');
    }
}
