using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>
/// What the Functions host does that the app cannot change, each listed under "Functions host" in
/// docs/protocol-compliance.md (with the host's own 401 in <see cref="FunctionsHostFixtureTests"/> and dot segments in
/// <see cref="NameScenarios"/>). Both hosts run each test, so a change on either side shows.
/// </summary>
public class HostDifferenceScenarios(AzuriteFixture azurite, EndToEndHosts hosts) : Scenario(azurite, hosts)
{
    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Packet_WithoutContentLength_IsRefusedByKestrel_ButTheFunctionsHostAddsOne(HostKind kind)
    {
        var host = await HostAsync(kind);

        var (status, headers) = await host.SendRawAsync("/uploads/a.bin", "BITS_POST", [("BITS-Packet-Type", "Ping")]);

        Assert.Equal("Ack", headers["BITS-Packet-Type"]);
        if (kind == HostKind.Kestrel)
        {
            Assert.Equal(400, status);
            Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
        }
        else
        {
            // The host forwards the request to the worker with "Content-Length: 0".
            Assert.Equal(200, status);
            Assert.False(headers.ContainsKey("BITS-Error-Code"));
        }
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Fragment_DeclaringMoreThan100MB_GetsThe413AckOnKestrel_AndABare500FromTheFunctionsHost(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var url = host.Url($"limits/{Unique()}.bin");
        var id = await http.CreateSessionAsync(url);

        // 110 MB declared, no body sent.
        var (status, headers) = await host.SendRawAsync(url.AbsolutePath, "BITS_POST",
            [("BITS-Packet-Type", "Fragment"), ("BITS-Session-Id", id), ("Content-Range", "bytes 0-109999999/110000000"), ("Content-Length", "110000000")]);

        var seen = $"{status}: {string.Join(", ", headers.Select(h => h.Key + ": " + h.Value))}";
        if (kind == HostKind.Kestrel)
        {
            // Above Bits:MaxFragmentBytes: the app's Ack, without waiting for the body.
            Assert.True(status == 413, seen);
            Assert.Equal("Ack", headers["BITS-Packet-Type"]);
            Assert.Equal("0x8019019D", headers["BITS-Error-Code"]);
        }
        else
        {
            // Above the host's own 100 MB request limit: the host answers 500 itself, the app never sees the request.
            Assert.True(status == 500, seen);
            Assert.False(headers.ContainsKey("BITS-Packet-Type"), seen);
        }

        using var cancel = await http.SendAsync(HttpBits.Packet(url, "Cancel-Session", id), Ct);
        cancel.AssertAck(200);
    }
}
