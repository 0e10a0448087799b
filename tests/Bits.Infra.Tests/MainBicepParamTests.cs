using System.Text.RegularExpressions;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>main.bicepparam documents, in its header comment, every environment variable it reads.</summary>
public partial class MainBicepParamTests
{
    private static readonly Lazy<string[]> Lines = new(() => File.ReadAllLines(RepoPaths.MainBicepParam));

    [Fact]
    public void MainBicepParam_UsesMainBicep() =>
        Assert.Contains(Lines.Value, l => l.Trim() == "using './main.bicep'");

    [Fact]
    public void MainBicepParam_ReadsAzdVariables()
    {
        var read = ReadVariables();

        Assert.Contains("AZURE_ENV_NAME", read);
        Assert.Contains("AZURE_LOCATION", read);
    }

    [Fact]
    public void MainBicepParam_HeaderDocumentsEveryVariableRead()
    {
        var documented = DocumentedVariables();
        var undocumented = ReadVariables().Where(v => !documented.Contains(v)).ToList();

        Assert.True(undocumented.Count == 0, $"Not listed in the header comment of main.bicepparam: {string.Join(", ", undocumented)}");
    }

    [Fact]
    public void MainBicepParam_HeaderListsOnlyVariablesRead()
    {
        var read = ReadVariables();
        var stale = DocumentedVariables().Where(v => !read.Contains(v)).ToList();

        Assert.True(stale.Count == 0, $"Listed in the header comment but never read: {string.Join(", ", stale)}");
    }

    private static HashSet<string> ReadVariables() =>
        [.. Lines.Value.SelectMany(l => ReadEnvironmentVariable().Matches(l)).Select(m => m.Groups["name"].Value)];

    /// <summary>Header = the comment lines before <c>using</c>; a variable is documented as "//   NAME: ...".</summary>
    private static HashSet<string> DocumentedVariables() =>
        [.. Lines.Value.TakeWhile(l => !l.StartsWith("using ", StringComparison.Ordinal))
            .Select(l => DocumentedVariable().Match(l)).Where(m => m.Success).Select(m => m.Groups["name"].Value)];

    [GeneratedRegex(@"readEnvironmentVariable\(\s*'(?<name>[^']+)'")]
    private static partial Regex ReadEnvironmentVariable();

    [GeneratedRegex(@"^//\s+(?<name>[A-Z][A-Z0-9_]*):")]
    private static partial Regex DocumentedVariable();
}
