using System.Reflection;
using System.Text.RegularExpressions;
using Bits.Testing;

namespace Bits.Protocol.Tests;

/// <summary>Issue 17, point 4: every error reason is declared once in <see cref="BitsErrors"/>, with a stable code.</summary>
public sealed partial class ErrorCatalogTests
{
    private static readonly List<(string Name, BitsErrorReason Reason)> Entries = typeof(BitsErrors)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(field => field.FieldType == typeof(BitsErrorReason))
        .Select(field => (field.Name, (BitsErrorReason)field.GetValue(null)!))
        .ToList();

    [Fact]
    public void EveryCode_IsUnique_AndComponentDotReason()
    {
        Assert.True(Entries.Count >= 40, $"only {Entries.Count} entries found");
        Assert.Empty(Entries.GroupBy(entry => entry.Reason.Code).Where(group => group.Count() > 1).Select(group => group.Key));
        Assert.All(Entries, entry => Assert.Matches(CodePattern(), entry.Reason.Code));
    }

    [Fact]
    public void EveryEntry_IsUsedBySourceOutsideTheCatalogue()
    {
        var source = string.Join('\n', Directory.EnumerateFiles(Path.Combine(RepositoryRoot.Find(), "src"), "*.cs", SearchOption.AllDirectories)
            .Where(file => Path.GetFileName(file) != "BitsError.cs" && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText));

        Assert.Empty(Entries.Where(entry => !source.Contains("BitsErrors." + entry.Name, StringComparison.Ordinal)).Select(entry => entry.Name));
    }

    [Fact]
    public void NoErrorIsBuiltOutsideTheCatalogue()
    {
        var adHoc = Directory.EnumerateFiles(Path.Combine(RepositoryRoot.Find(), "src"), "*.cs", SearchOption.AllDirectories)
            .Where(file => Path.GetFileName(file) != "BitsError.cs" && File.ReadAllText(file).Contains("new BitsError(", StringComparison.Ordinal))
            .Select(Path.GetFileName);

        Assert.Empty(adHoc);
    }

    [GeneratedRegex("^[a-z]+(-[a-z]+)*\\.[a-z]+(-[a-z]+)*$")]
    private static partial Regex CodePattern();
}
