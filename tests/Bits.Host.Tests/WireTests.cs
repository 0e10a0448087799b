using Bits.Testing;

namespace Bits.Host.Tests;

/// <summary>What a client sees on the wire from the real host on Azurite.</summary>
public class WireTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upload_OverHttp_PublishesByteIdenticalFileAndCleansUp()
    {
        var storage = StorageNames.Unique(azurite);
        await using var host = await TestHost.StartAsync(storage);
        using var http = new HttpClient();
        var file = new byte[300_000];
        new Random(1).NextBytes(file);
        var url = host.Url("reports/2026/q4%20data+final.bin");

        using (var ping = await http.SendAsync(HttpBits.Packet(url, "Ping"), Ct))
        {
            ping.AssertAck(200);
        }

        var id = await http.CreateSessionAsync(url);
        for (var offset = 0; offset < file.Length; offset += 100_000)
        {
            using var ack = await http.SendAsync(HttpBits.Fragment(url, id, file, offset, 100_000), Ct);
            ack.AssertAck(200);
            Assert.Equal(offset + 100_000, ack.Received());
            Assert.Equal(id, ack.Header("BITS-Session-Id"));
        }

        using (var close = await http.SendAsync(HttpBits.Packet(url, "Close-Session", id), Ct))
        {
            close.AssertAck(200);
            Assert.Equal(id, close.Header("BITS-Session-Id"));
        }

        Assert.Equal(file, await storage.ReadPublishedAsync("reports/2026/q4 data+final.bin"));
        Assert.Equal(0, await storage.StagedBlobCountAsync());
        Assert.Equal(0, await storage.SessionRowCountAsync());

        using var again = await http.SendAsync(HttpBits.Packet(url, "Close-Session", id), Ct);
        again.AssertAck(200);
    }

    [Fact]
    public async Task CreateSession_Ack_CarriesProtocolSessionAndIdentity()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));
        using var http = new HttpClient();

        using var ack = await http.SendAsync(HttpBits.Create(host.Url("a.bin")), Ct);

        ack.AssertAck(200);
        Assert.Equal("{7df0354d-249b-430f-820d-3d2a9bef4931}", ack.Header("BITS-Protocol"));
        Assert.Equal("identity", ack.Header("Accept-Encoding"));
        Assert.Matches("^\\{[0-9A-F-]{36}\\}$", ack.Header("BITS-Session-Id")!);
        Assert.Null(ack.Header("BITS-Error-Code"));
    }

    [Fact]
    public async Task Get_OnUploadUrl_Returns405Ack()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));
        using var http = new HttpClient();

        using var response = await http.GetAsync(host.Url("a.bin"), Ct);

        response.AssertAck(405);
        Assert.Equal("0x80190195", response.Header("BITS-Error-Code"));
    }

    [Fact]
    public async Task PostWithMethodOverride_IsTreatedAsBitsPost()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));
        using var http = new HttpClient();
        var request = HttpBits.Packet(host.Url("a.bin"), "Ping", method: HttpMethod.Post);
        request.Headers.Add("X-Http-Method-Override", "BITS_POST");

        using var response = await http.SendAsync(request, Ct);

        response.AssertAck(200);
    }

    [Fact]
    public async Task Fragment_MalformedRange_Returns400WithErrorHeaders()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));
        using var http = new HttpClient();
        var url = host.Url("a.bin");
        var id = await http.CreateSessionAsync(url);
        var request = HttpBits.Fragment(url, id, new byte[10], 0, 10);
        request.Content!.Headers.Remove("Content-Range");
        request.Content.Headers.TryAddWithoutValidation("Content-Range", "bytes 0-9/5");

        using var ack = await http.SendAsync(request, Ct);

        ack.AssertAck(400);
        Assert.Equal("0x80070057", ack.Header("BITS-Error-Code"));
        Assert.Equal("0x80070057", ack.Header("BITS-Error")); // rule 6a.12: the [MC-BUP] name too
        Assert.Equal("0x5", ack.Header("BITS-Error-Context"));
        Assert.Equal(id, ack.Header("BITS-Session-Id"));
    }

    [Fact]
    public async Task Fragment_UnknownSession_Returns500SessionNotFound()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));
        using var http = new HttpClient();

        using var ack = await http.SendAsync(HttpBits.Fragment(host.Url("a.bin"), "{6F9619FF-8B86-D011-B42D-00C04FC964FF}", new byte[10], 0, 10), Ct);

        ack.AssertAck(500);
        Assert.Equal("0x8020001F", ack.Header("BITS-Error-Code"));
        Assert.Equal("0x5", ack.Header("BITS-Error-Context"));
    }

    [Theory]
    [InlineData("/uploads/..%2f..%2fsecret.bin")]
    [InlineData("/uploads/a/%2e%2e/%2e%2e/x.bin")]
    [InlineData("/uploads/a%5c..%5cx.bin")]
    [InlineData("/uploads/dir/")]
    public async Task CreateSession_TraversalOverRawHttp_Returns400AndWritesNothing(string target)
    {
        var storage = StorageNames.Unique(azurite);
        await using var host = await TestHost.StartAsync(storage);

        var (status, headers) = await RawHttp.SendAsync(host.Root, target, "BITS_POST",
        [
            ("BITS-Packet-Type", "Create-Session"),
            ("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}"),
            ("Content-Length", "0"),
        ]);

        Assert.Equal(400, status);
        Assert.Equal("Ack", headers["BITS-Packet-Type"]);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
        Assert.Equal("0", headers["Content-Length"]);
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task CreateSession_NulInName_IsRefusedByKestrelAndWritesNothing()
    {
        var storage = StorageNames.Unique(azurite);
        await using var host = await TestHost.StartAsync(storage);

        var (status, _) = await RawHttp.SendAsync(host.Root, "/uploads/a%00b.bin", "BITS_POST",
            [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}"), ("Content-Length", "0")]);

        Assert.Equal(400, status);
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task Packet_WithoutContentLength_Returns400()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));

        var (status, headers) = await RawHttp.SendAsync(host.Root, "/uploads/a.bin", "BITS_POST", [("BITS-Packet-Type", "Ping")]);

        Assert.Equal(400, status);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
    }

    [Fact]
    public async Task Header_Over4KB_Returns400()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite));

        var (status, headers) = await RawHttp.SendAsync(host.Root, "/uploads/a.bin", "BITS_POST",
            [("BITS-Packet-Type", "Ping"), ("Content-Length", "0"), ("X-Padding", new string('x', 5000))]);

        Assert.Equal(400, status);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
    }

    [Fact]
    public async Task QueryString_IsNotPartOfTheName()
    {
        var storage = StorageNames.Unique(azurite);
        await using var host = await TestHost.StartAsync(storage);
        using var http = new HttpClient();
        var url = new Uri(host.Url("q/x.bin") + "?code=abc%2F..");
        var id = await http.CreateSessionAsync(url);
        using (var ack = await http.SendAsync(HttpBits.Fragment(url, id, [1, 2, 3], 0, 3), Ct))
        {
            ack.AssertAck(200);
        }

        using (var close = await http.SendAsync(HttpBits.Packet(url, "Close-Session", id), Ct))
        {
            close.AssertAck(200);
        }

        Assert.Equal([1, 2, 3], await storage.ReadPublishedAsync("q/x.bin"));
    }
}
