using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>
/// Issue 16, point 10: the Azure Monitor workbook (infra/workbook/bits-uploads.workbook.json) is deployed with the
/// Bicep and queries only metric names, span names, dimensions and packet types the code emits today, read from the
/// source (every <c>Meter.Create*</c> instrument, every <c>StartActivity</c> name, every tag key), so renaming an
/// instrument without the dashboard fails here instead of leaving an empty chart.
/// </summary>
public partial class WorkbookTests(CompiledMainTemplate compiled)
{
    private static readonly Lazy<string[]> Sources = new(() =>
        [.. Directory.EnumerateFiles(RepoPaths.Src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText)]);

    private static readonly Lazy<string> WorkbookText = new(() => File.ReadAllText(RepoPaths.Workbook));

    private static IEnumerable<string> Queries() =>
        JsonNode.Parse(WorkbookText.Value)!["items"]!.AsArray().OfType<JsonObject>()
            .Where(i => (int?)i["type"] == 3).Select(i => (string)i["content"]!["query"]!);

    internal static HashSet<string> MetricNames() =>
        [.. Sources.Value.SelectMany(s => Instrument().Matches(s)).Select(m => m.Groups["name"].Value)];

    internal static HashSet<string> WireNames() =>
        [.. Sources.Value.SelectMany(s => WireName().Matches(s)).Select(m => m.Groups["name"].Value).Where(n => n != "Unknown")];

    internal static HashSet<string> SpanNames() =>
        [.. Sources.Value.SelectMany(s => Activity().Matches(s)).SelectMany(m => m.Groups["suffix"].Success
            ? WireNames().Select(w => m.Groups["prefix"].Value + w)
            : [m.Groups["prefix"].Value])];

    internal static HashSet<string> TagKeys() =>
        [.. Sources.Value.SelectMany(s => Tag().Matches(s)).Select(m => m.Groups["key"].Value)];

    /// <summary>Names a query uses that the code does not emit.</summary>
    internal static List<string> Unknown(string query)
    {
        var emitted = MetricNames().Concat(SpanNames()).ToHashSet(StringComparer.Ordinal);
        var tags = TagKeys();
        var wire = WireNames();
        var names = NameEquals().Matches(query).Select(m => m.Groups["value"].Value)
            .Concat(NameIn().Matches(query).SelectMany(m => Literals(m.Groups["list"].Value)));
        var dimensions = Dimension().Matches(query).Select(m => m.Groups["key"].Value);
        var packets = PacketIn().Matches(query).SelectMany(m => Literals(m.Groups["list"].Value));
        return [.. names.Where(n => !emitted.Contains(n)).Select(n => $"name {n}")
            .Concat(dimensions.Where(d => !tags.Contains(d)).Select(d => $"dimension {d}"))
            .Concat(packets.Where(p => !wire.Contains(p)).Select(p => $"packet type {p}"))];
    }

    [Fact]
    public void CodeScan_FindsTheServersInstruments()
    {
        // Guards the scan itself: if these regexes stop matching, every name would look unknown (or none checked).
        Assert.Contains("bits.packets", MetricNames());
        Assert.Contains("bits.janitor.runs", MetricNames());
        Assert.Contains("bits.auth.refusals", MetricNames());
        Assert.Contains("BITS Fragment", SpanNames());
        Assert.Contains("BITS Close-Session", SpanNames());
        Assert.Contains("bits.error_code", TagKeys());
        Assert.Contains("error.type", TagKeys());
    }

    [Fact]
    public void Checker_FlagsNamesTheCodeDoesNotEmit() =>
        Assert.Equal(
            ["name bits.uploads.completed", "name BITS Upload", "dimension bits.cause", "packet type Close"],
            Unknown("""
                customMetrics | where name == "bits.uploads.completed" | extend c = customDimensions["bits.cause"]
                | union (dependencies | where name in ("BITS Upload", "BITS Fragment")) | where packet in ("Close", "Fragment")
                """));

    [Fact]
    public void Workbook_QueriesOnlyWhatTheCodeEmits()
    {
        var queries = Queries().ToList();

        Assert.True(queries.Count >= 8, $"the workbook has {queries.Count} queries");
        var unknown = queries.SelectMany(Unknown).Distinct().ToList();
        Assert.True(unknown.Count == 0, $"the workbook queries what the code does not emit: {string.Join("; ", unknown)}");
    }

    [Theory]
    [InlineData("bits.publish.duration")] // uploads completed
    [InlineData("bits.bytes_received")]
    [InlineData("BITS Fragment")] // latency percentiles
    [InlineData("BITS Close-Session")]
    [InlineData("bits.errors")] // by BITS-Error-Code, and 503 causes
    [InlineData("bits.packets")] // sessions created and ended
    [InlineData("bits.janitor.runs")]
    [InlineData("bits.janitor.expired")]
    public void Workbook_ChartsWhatOperatorsNeed(string name) =>
        Assert.Contains(Queries(), q => q.Contains($"\"{name}\"", StringComparison.Ordinal));

    [Fact]
    public void Workbook_GroupsErrorsAndBusyAnswersByCause()
    {
        Assert.Contains(Queries(), q => q.Contains("customDimensions[\"bits.error_code\"]", StringComparison.Ordinal));
        Assert.Contains(Queries(), q => q.Contains("customDimensions[\"error.type\"]", StringComparison.Ordinal) && q.Contains("\"503\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Workbook_IsDeployedOnApplicationInsights_Optionally()
    {
        var workbook = compiled.Template.Single("Microsoft.Insights/workbooks");

        Assert.Equal("[parameters('deployWorkbook')]", workbook.StringAt("condition"));
        Assert.Equal("shared", workbook.StringAt("kind"));
        Assert.Equal("[resourceId('Microsoft.Insights/components', parameters('appInsightsName'))]", workbook.StringAt("properties.sourceId"));
        // loadTextContent() puts the file into a variable of the monitoring module.
        var variable = Regex.Match(workbook.StringAt("properties.serializedData")!, @"^\[variables\('(?<name>[^']+)'\)\]$");
        Assert.True(variable.Success, workbook.StringAt("properties.serializedData"));
        Assert.Equal(WorkbookText.Value, compiled.Template.ModuleTemplate("monitoring")["variables"]![variable.Groups["name"].Value]!.GetValue<string>());
        Assert.True((bool?)compiled.Template.Parameters["deployWorkbook"]!["defaultValue"]);
    }

    private static IEnumerable<string> Literals(string list) => Literal().Matches(list).Select(m => m.Groups["value"].Value);

    [GeneratedRegex(@"\.Create(?:Counter|Histogram|UpDownCounter|Gauge|ObservableCounter|ObservableGauge|ObservableUpDownCounter)<[^>]+>\(\s*""(?<name>[^""]+)""")]
    private static partial Regex Instrument();

    [GeneratedRegex(@"StartActivity\(\s*""(?<prefix>[^""]*)""(?:\s*\+\s*(?<suffix>[\w.]+)\.ToWireName\(\))?")]
    private static partial Regex Activity();

    [GeneratedRegex(@"BitsPacketType\.\w+\s*=>\s*""(?<name>[^""]+)""")]
    private static partial Regex WireName();

    [GeneratedRegex(@"new KeyValuePair<string, object\?>\(\s*""(?<key>[^""]+)""")]
    private static partial Regex Tag();

    [GeneratedRegex(@"\bname\s*==\s*""(?<value>[^""]+)""")]
    private static partial Regex NameEquals();

    [GeneratedRegex(@"\bname\s+in\s*\((?<list>[^)]*)\)")]
    private static partial Regex NameIn();

    [GeneratedRegex(@"\bpacket\s+in\s*\((?<list>[^)]*)\)")]
    private static partial Regex PacketIn();

    [GeneratedRegex(@"customDimensions\[""(?<key>[^""]+)""\]")]
    private static partial Regex Dimension();

    [GeneratedRegex(@"""(?<value>[^""]*)""")]
    private static partial Regex Literal();
}
