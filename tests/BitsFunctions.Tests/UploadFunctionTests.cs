using Bits.Testing;

namespace BitsFunctions.Tests;

/// <summary>The trigger, built from the app's own registration and local.settings.sample.json, on Azurite.</summary>
public class UploadFunctionTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Upload_WithRetransmitsAndClose_PublishesByteIdenticalFileAndCleansUp()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var app = await FunctionApp.StartAsync(storage.Settings());
        var file = SeededStream.Bytes(300_000, 8);
        const string target = "/uploads/reports/2026/q4%20data.bin?code=functionkey";

        (await app.PacketAsync(target, "Ping")).AssertAck(200);
        var id = await app.CreateSessionAsync(target);

        var first = await app.FragmentAsync(target, id, file, 0, 100_000);
        first.AssertAck(200);
        Assert.Equal(100_000, first.Received());
        Assert.Equal(id, first.Headers["BITS-Session-Id"].ToString());

        var repeated = await app.FragmentAsync(target, id, file, 0, 100_000);
        repeated.AssertAck(200);
        Assert.Equal(100_000, repeated.Received());

        var gap = await app.FragmentAsync(target, id, file, 250_000, 50_000);
        gap.AssertAck(416);
        Assert.Equal(100_000, gap.Received());

        var overlapping = await app.FragmentAsync(target, id, file, 50_000, 130_000);
        overlapping.AssertAck(200);
        Assert.Equal(180_000, overlapping.Received());

        var last = await app.FragmentAsync(target, id, file, 180_000, 120_000);
        last.AssertAck(200);
        Assert.Equal(300_000, last.Received());

        var close = await app.PacketAsync(target, "Close-Session", id);
        close.AssertAck(200);
        Assert.Equal(id, close.Headers["BITS-Session-Id"].ToString());

        Assert.Equal(file, await storage.ReadPublishedAsync("reports/2026/q4 data.bin"));
        Assert.Equal(0, await storage.StagedBlobCountAsync());
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Theory]
    [InlineData("bytes 0-9/5")]
    [InlineData("garbage")]
    [InlineData("bytes 9-0/10")]
    public async Task Fragment_MalformedContentRange_Returns400ErrorAck(string contentRange)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var app = await FunctionApp.StartAsync(storage.Settings());
        const string target = "/uploads/a.bin";
        var id = await app.CreateSessionAsync(target);

        var ack = await app.InvokeAsync(target,
            [("BITS-Packet-Type", "Fragment"), ("BITS-Session-Id", id), ("Content-Range", contentRange)], new byte[10]);

        AssertInvalidArgument(ack);
        Assert.Equal(id, ack.Headers["BITS-Session-Id"].ToString());
    }

    [Fact]
    public async Task Packet_UnknownType_Returns400ErrorAck()
    {
        await using var app = await FunctionApp.StartAsync(StorageNames.Unique(azurite.ConnectionString).Settings());

        var ack = await app.PacketAsync("/uploads/a.bin", "Upload-Everything");

        AssertInvalidArgument(ack);
    }

    [Fact]
    public async Task CreateSession_TraversalInRawTarget_Returns400AndWritesNothing()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var app = await FunctionApp.StartAsync(storage.Settings());

        var ack = await app.InvokeAsync("/uploads/a/%2e%2e/%2e%2e/x.bin",
            [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", FunctionApp.BitsProtocol)]);

        AssertInvalidArgument(ack);
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    /// <summary>Rule 6a.3: names the Functions host would forward differently (encoded separators, '%') or that hide what they are.</summary>
    [Theory]
    [InlineData("/uploads/dir%2Fx.bin")]
    [InlineData("/uploads/dir%5cx.bin")]
    [InlineData("/uploads/100%25.bin")]
    [InlineData("/uploads/%E2%80%AEgpj.exe")]
    public async Task CreateSession_EncodedSeparatorPercentOrBidiName_Returns400AndWritesNothing(string target)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var app = await FunctionApp.StartAsync(storage.Settings());

        var ack = await app.InvokeAsync(target, [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", FunctionApp.BitsProtocol)]);

        AssertInvalidArgument(ack);
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task Get_OnUploadUrl_Returns405Ack()
    {
        await using var app = await FunctionApp.StartAsync(StorageNames.Unique(azurite.ConnectionString).Settings());

        var ack = await app.InvokeAsync("/uploads/a.bin", [], method: "GET");

        ack.AssertAck(405);
    }

    private static void AssertInvalidArgument(Microsoft.AspNetCore.Http.HttpResponse ack)
    {
        ack.AssertAck(400);
        Assert.Equal("0x80070057", ack.Headers["BITS-Error-Code"].ToString());
        Assert.Equal("0x5", ack.Headers["BITS-Error-Context"].ToString());
        Assert.Equal("0", ack.Headers.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
