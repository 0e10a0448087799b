using System.Text.RegularExpressions;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>
/// Issue 17, point 3, as code in <c>src/Bits.Protocol</c> must keep it: the request is parsed in one place
/// (<c>BitsParsedRequest</c>) and sessions are read in one place (<c>BitsSessionResolver</c>), so no packet class parses
/// the path, resolves the area, normalises the session id or reads a session row on its own.
/// </summary>
public partial class ProtocolStructureTests
{
    private static readonly string Protocol = Path.Combine(RepoPaths.Src, "Bits.Protocol");

    [Fact]
    public void TheRequestIsParsedOnlyByBitsParsedRequest()
    {
        // BitsServerOptions validates the configured area prefixes; BitsReplyDownload normalises the reply id from the
        // query, which is not the request's session id.
        var offenders = FilesCalling(RequestParsing(), except: ["BitsParsedRequest.cs", "BitsServerOptions.cs", "BitsReplyDownload.cs"]);

        Assert.True(offenders.Count == 0, $"Request parsing outside BitsParsedRequest: {string.Join(", ", offenders)}");
    }

    [Fact]
    public void SessionsAreReadOnlyByBitsSessionResolver()
    {
        var offenders = FilesCalling(SessionRead(), except: ["BitsSessionResolver.cs"]);

        Assert.True(offenders.Count == 0, $"Session reads outside BitsSessionResolver: {string.Join(", ", offenders)}");
    }

    private static List<string> FilesCalling(Regex call, string[] except)
    {
        var files = LayeringTests.SourceFiles(Protocol, "*.cs").ToList();
        Assert.Contains(files, f => Path.GetFileName(f) == "BitsProtocolHandler.cs");
        return files
            .Where(f => !except.Contains(Path.GetFileName(f)) && call.IsMatch(File.ReadAllText(f)))
            .Select(Path.GetFileName)
            .OfType<string>()
            .ToList();
    }

    [GeneratedRegex(@"\b(DestinationPath\.TryParse|BitsSessionIds\.TryNormalize|Areas\.Resolve)\s*\(")]
    private static partial Regex RequestParsing();

    [GeneratedRegex(@"\.GetSessionAsync\s*\(")]
    private static partial Regex SessionRead();
}
