using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Azure.Storage.Blobs.Models;
using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Bits.Host.Tests;

/// <summary>Limits over real HTTP on the Kestrel host: fragment size, sessions per user, slow and stalled bodies.</summary>
public class LimitsTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fragment_AboveMaxFragmentBytes_Gets413_EvenWhenHugeAndUnsent_AndStoresNothing()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?> { ["Bits:MaxFragmentBytes"] = "8192" });
        using var http = new HttpClient();
        var url = host.Url("limits/big.bin");
        var file = SeededStream.Bytes(16384, 5);
        var id = await http.CreateSessionAsync(url);

        using (var tooBig = await http.SendAsync(HttpBits.Fragment(url, id, file, 0, 16384), Ct))
        {
            tooBig.AssertAck(413);
            Assert.Equal("0x8019019D", tooBig.Header("BITS-Error-Code"));
        }

        // 200 MiB declared, no body sent: the Ack comes without the server waiting for (or buffering) a byte of it.
        var watch = Stopwatch.StartNew();
        var (status, headers) = await RawHttp.SendAsync(host.Root, "/uploads/limits/big.bin", "BITS_POST",
            [("BITS-Packet-Type", "Fragment"), ("BITS-Session-Id", id), ("Content-Range", "bytes 0-209715199/209715200"), ("Content-Length", "209715200")]);
        Assert.Equal(413, status);
        Assert.Equal("0x8019019D", headers["BITS-Error-Code"]);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");

        Assert.Equal(0, await StagedBytesAsync(storage));
        using var fits = await http.SendAsync(HttpBits.Fragment(url, id, file, 0, 8192), Ct);
        fits.AssertAck(200);
        Assert.Equal(8192, fits.Received());
    }

    [Fact]
    public async Task SessionLimit_OverHttpWithBasicAuth_Gets409UntilOneOfTheUsersSessionsEnds()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:MaxSessionsPerUser"] = "2",
            ["Bits:Authentication:AllowAnonymous"] = "false",
            ["Bits:Authentication:Basic"] = "true",
            ["Bits:Authentication:AllowBasicOverHttp"] = "true",
            ["Bits:Authentication:BasicUsers:alice"] = BitsPasswordHasher.Hash("alice-pw", 1000),
            ["Bits:Authentication:BasicUsers:bob"] = BitsPasswordHasher.Hash("bob-pw", 1000),
        });
        using var http = new HttpClient();
        var alice = Basic("alice", "alice-pw");

        var first = await CreateAsync(http, host.Url("a1.bin"), alice);
        var second = await CreateAsync(http, host.Url("a2.bin"), alice);
        using (var third = await http.SendAsync(With(HttpBits.Create(host.Url("a3.bin")), alice), Ct))
        {
            third.AssertAck(409);
            Assert.Equal("0x80190199", third.Header("BITS-Error-Code"));
            Assert.Equal("0x5", third.Header("BITS-Error-Context"));
            Assert.Null(third.Header("BITS-Session-Id"));
        }

        // Another user is not affected, nor does anyone get in without credentials.
        Assert.NotNull(await CreateAsync(http, host.Url("b1.bin"), Basic("bob", "bob-pw")));
        using (var anonymous = await http.SendAsync(HttpBits.Create(host.Url("x.bin")), Ct))
        {
            anonymous.AssertAck(401);
        }

        using (var cancel = await http.SendAsync(With(HttpBits.Packet(host.Url("a1.bin"), "Cancel-Session", first), alice), Ct))
        {
            cancel.AssertAck(200);
        }

        Assert.NotNull(await CreateAsync(http, host.Url("a3.bin"), alice));
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task StalledFragmentBody_IsCutOffWithinSeconds_AndStoresNothing()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage);
        using var http = new HttpClient();
        var url = host.Url("slow/stall.bin");
        var id = await http.CreateSessionAsync(url);

        // Headers for a 100,000-byte fragment, then 10 bytes, then nothing.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.Root.Host, host.Root.Port, Ct);
        await using var stream = tcp.GetStream();
        var head = $"BITS_POST /uploads/slow/stall.bin HTTP/1.1\r\nHost: {host.Root.Authority}\r\nBITS-Packet-Type: Fragment\r\n" +
            $"BITS-Session-Id: {id}\r\nContent-Range: bytes 0-99999/100000\r\nContent-Length: 100000\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), Ct);
        await stream.WriteAsync(new byte[10], Ct);
        var watch = Stopwatch.StartNew();

        // The server must end the exchange by itself: a 503 Ack (rule 6a.10: transient, Windows sends the range again,
        // where a 400 would fail the job) and a closed connection.
        var answer = await ReadUntilClosedAsync(stream, TimeSpan.FromSeconds(30));
        var elapsed = watch.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"cut off after {elapsed.TotalSeconds:F1} s; answer: {answer.Text.Split('\r')[0]}");

        Assert.True(answer.Closed, $"the connection was still open after {elapsed}; received: {answer.Text}");
        Assert.InRange(elapsed, TimeSpan.Zero, BitsHostApp.BodyGracePeriod + TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 503", answer.Text, StringComparison.Ordinal);
        Assert.Contains("BITS-Error-Code: 0x801901F7\r\n", answer.Text, StringComparison.Ordinal);
        Assert.Contains("BITS-Error-Context: 0x5\r\n", answer.Text, StringComparison.Ordinal);

        // Nothing of the 10 bytes counts: a fragment at offset 10 is a gap, and no staged byte exists.
        Assert.Equal(0, await StagedBytesAsync(storage));
        var file = new byte[100_000];
        using (var gap = await http.SendAsync(HttpBits.Fragment(url, id, file, 10, 10), Ct))
        {
            gap.AssertAck(416);
            Assert.Equal(0, gap.Received());
        }
    }

    [Fact]
    public async Task KestrelLimits_AreSetExplicitly()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite.ConnectionString));
        var limits = host.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        Assert.Equal(BitsHostApp.MinBodyBytesPerSecond, limits.MinRequestBodyDataRate!.BytesPerSecond);
        Assert.Equal(BitsHostApp.BodyGracePeriod, limits.MinRequestBodyDataRate.GracePeriod);
        Assert.Equal(BitsHostApp.RequestHeadersTimeout, limits.RequestHeadersTimeout);
        Assert.Equal(128L * 1024 * 1024, limits.MaxRequestBodySize);
    }

    private static async Task<(bool Closed, string Text)> ReadUntilClosedAsync(NetworkStream stream, TimeSpan limit)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(limit);
        var text = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    return (true, text.ToString());
                }

                text.Append(Encoding.Latin1.GetString(buffer, 0, read));
            }
        }
        catch (IOException)
        {
            return (true, text.ToString());
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            return (false, text.ToString());
        }
    }

    private static async Task<long> StagedBytesAsync(StorageNames storage)
    {
        long bytes = 0;
        await foreach (var blob in storage.Staging.GetBlobsAsync(new GetBlobsOptions(), Ct))
        {
            bytes += blob.Properties.ContentLength ?? 0;
        }

        return bytes;
    }

    private static async Task<string?> CreateAsync(HttpClient http, Uri url, string authorization)
    {
        using var response = await http.SendAsync(With(HttpBits.Create(url), authorization), Ct);
        response.AssertAck(200);
        return response.Header("BITS-Session-Id");
    }

    private static HttpRequestMessage With(HttpRequestMessage request, string authorization)
    {
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    private static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
}
