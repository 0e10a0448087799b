using System.Text.RegularExpressions;
using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bits.Properties.Tests;

/// <summary>Properties of the header parsers: Content-Range, packet types, session ids, destination names, the adapter.</summary>
[Properties(Arbitrary = [typeof(Generators)], MaxTest = 500, QuietOnSuccess = true)]
public partial class ParserProperties
{
    private static readonly string[] PacketNames = ["Ping", "Create-Session", "Fragment", "Close-Session", "Cancel-Session"];

    [Property]
    public void ContentRange_EveryValidRange_RoundTrips(SpelledRange spelled)
    {
        Assert.True(ContentRange.TryParse(spelled.Text, out var parsed, out var problem), problem);
        Assert.Equal(new ContentRange(spelled.First, spelled.Last, spelled.Total), parsed);
        Assert.Equal(spelled.Last - spelled.First + 1, parsed.Length);

        Assert.True(ContentRange.TryParse(parsed.ToString(), out var again, out _));
        Assert.Equal(parsed, again);
    }

    [Property]
    public void ContentRange_MutatedText_IsAcceptedExactlyWhenWellFormed(MutatedText text) => AgreesWithSpec(text.Value);

    [Property(MaxTest = 2000)]
    public void ContentRange_AnyString_NeverThrows_AndIsAcceptedExactlyWhenWellFormed(string? text) => AgreesWithSpec(text);

    [Property]
    public void PacketType_EveryCasingAndPadding_Parses(SpelledPacketType spelled)
    {
        Assert.True(BitsPacketTypes.TryParse(spelled.Text, out var type));
        Assert.Equal(spelled.Type, type);
    }

    [Property(MaxTest = 2000)]
    public void PacketType_AnyString_IsAcceptedOnlyAsOneOfTheFiveNames(string? text)
    {
        var accepted = BitsPacketTypes.TryParse(text, out var type);

        var expected = text is not null && PacketNames.Any(n => n.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase));
        Assert.Equal(expected, accepted);
        if (accepted)
        {
            Assert.Equal(text!.Trim(), type.ToWireName(), StringComparer.OrdinalIgnoreCase);
        }
    }

    [Property]
    public void SessionId_EveryGuidSpelling_NormalisesToTheCanonicalForm(SpelledGuid spelled)
    {
        Assert.True(BitsSessionIds.TryNormalize(spelled.Text, out var id));
        Assert.Equal(spelled.Guid.ToString("B").ToUpperInvariant(), id);
    }

    [Property(MaxTest = 2000)]
    public void SessionId_AnyString_OnlyEverYieldsACanonicalId(string? text)
    {
        // What reaches a table key or a blob name is always this shape, whatever the client sent.
        if (BitsSessionIds.TryNormalize(text, out var id))
        {
            Assert.Matches(CanonicalId(), id);
        }
        else
        {
            Assert.Equal(string.Empty, id);
        }
    }

    [Property]
    public async Task SessionId_EchoedInTheAck_IsAlwaysHeaderSafe(SpelledGuid spelled)
    {
        // Guid.TryParse accepts "{0x..,\r\n0x..,...}": the echo must never carry such text into a response header.
        var handler = new BitsProtocolHandler(new InMemoryBitsUploadStore(), Options.Create(new BitsServerOptions()), TimeProvider.System, NullLogger<BitsProtocolHandler>.Instance);
        var request = new BitsRequest { Method = "BITS_POST", RawPath = "/a.bin", PacketType = "Cancel-Session", SessionId = spelled.Text, ContentLength = 0 };

        var ack = await handler.HandleAsync(request, CancellationToken.None);

        Assert.Equal(500, ack.StatusCode);
        Assert.All(ack.Headers, h => Assert.Matches(HeaderSafe(), h.Value));
        Assert.Equal(spelled.Guid, Guid.Parse(ack.GetHeader(BitsHeaders.SessionId)!));
    }

    [Property]
    public void DestinationPath_PercentEncodedSafeName_DecodesExactlyOnce(SafeName safe)
    {
        var once = string.Join('/', safe.Name.Split('/').Select(Uri.EscapeDataString));
        var twice = string.Join('/', once.Split('/').Select(Uri.EscapeDataString));

        Assert.True(DestinationPath.TryParse("/" + once, out var name, out var problem), problem);
        Assert.Equal(safe.Name, name);
        // Decoded once, a twice-encoded name still holds '%' wherever escaping was needed: refused (rule 6a.3).
        var accepted = DestinationPath.TryParse("/" + twice, out var onceDecoded, out problem);
        Assert.Equal(!once.Contains('%', StringComparison.Ordinal), accepted);
        if (accepted)
        {
            Assert.Equal(once, onceDecoded);
        }
    }

    [Property(MaxTest = 2000)]
    public void DestinationPath_AcceptedNames_NeverEscapeTheRoute(NonEmptyArray<byte> pieces)
    {
        string[] parts = ["..", ".", "%2e%2e", "%2E.", ".%2e", "%2f", "%2F", "%5c", "\\", "%00", "%0a", "%c0%ae", "%c0%af", "%e2%80%ae", "a", "b.bin", "/", "//", "%", "%G0", "..%2f", "%252e%252e", "\u0000", "\u202e", "+"];
        var raw = string.Concat(pieces.Item.Select(p => parts[p % parts.Length]));

        if (DestinationPath.TryParse(raw, out var name, out var problem))
        {
            Assert.Null(problem);
            Assert.DoesNotContain(name, char.IsControl);
            Assert.DoesNotContain('\\', name);
            Assert.False(name.StartsWith('/') || name.EndsWith('/'), name);
            Assert.All(name.Split('/'), segment => Assert.True(segment.Length > 0 && segment is not "." and not ".." && !segment.EndsWith('.'), name));
            Assert.InRange(name.Length, 1, DestinationPath.MaxNameLength);
        }
        else
        {
            Assert.False(string.IsNullOrEmpty(problem));
        }
    }

    [Property]
    public void Adapter_FlagsExactlyTheHeadersOver4KB_AndPassesTheOthersThrough(NonEmptyArray<PositiveInt> lengths)
    {
        var context = NewContext("BITS_POST", "/uploads/x.bin");
        var values = lengths.Item.Select((n, i) => (Name: "X-H" + i, Value: new string('v', 4000 + (n.Item % 200)))).ToList();
        foreach (var (name, value) in values)
        {
            context.Request.Headers[name] = value;
        }

        context.Request.Headers[BitsHeaders.ContentRange] = "bytes 0-0/1";
        var request = BitsHttp.ToBitsRequest(context, "/uploads");

        var over = values.FirstOrDefault(v => v.Value.Length > BitsHeaders.MaxHeaderValueLength);
        Assert.Equal(over.Name, request.OversizedHeader);
        Assert.Equal("bytes 0-0/1", request.ContentRange);
        Assert.Equal("/x.bin", request.RawPath);
    }

    [Property]
    public void Adapter_MethodOverride_OnlyTurnsPostIntoBitsPost(bool post, PositiveInt casing)
    {
        var spelled = new string("BITS_POST".Select((c, i) => ((casing.Item >> i) & 1) == 1 ? char.ToLowerInvariant(c) : c).ToArray());
        var context = NewContext(post ? "POST" : "PUT", "/uploads/x.bin");
        context.Request.Headers[BitsHttp.MethodOverrideHeader] = spelled;

        var request = BitsHttp.ToBitsRequest(context, "/uploads");

        Assert.Equal(post ? BitsHeaders.Method : "PUT", request.Method);
    }

    internal static DefaultHttpContext NewContext(string method, string rawTarget)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1", 7071);
        context.Request.Path = "/uploads/x.bin";
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = rawTarget;
        return context;
    }

    private static void AgreesWithSpec(string? text)
    {
        var accepted = ContentRange.TryParse(text, out var range, out var problem);

        var expected = ContentRangeSpec.TryParse(text, out var spec);
        Assert.Equal(expected, accepted);
        if (accepted)
        {
            Assert.Null(problem);
            Assert.Equal((spec.First, spec.Last, spec.Total), (range.First, range.Last, range.Total));
            Assert.Equal(range.Total == 0 ? 0 : range.Last - range.First + 1, range.Length);
        }
        else
        {
            Assert.False(string.IsNullOrEmpty(problem));
        }
    }

    [GeneratedRegex(@"\A\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}\z")]
    private static partial Regex CanonicalId();

    /// <summary>RFC 9110 field-value characters: visible ASCII, space and tab (no CR, LF, NUL or non-ASCII).</summary>
    [GeneratedRegex(@"\A[\x20-\x7E\t]*\z")]
    internal static partial Regex HeaderSafe();
}
