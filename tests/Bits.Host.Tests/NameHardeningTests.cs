using System.Collections.Concurrent;
using System.Text;
using Bits.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Bits.Host.Tests;

/// <summary>
/// Issue 12, points 11 and 12, and rule 6a.3 as extended: request targets that reach the route only after decoding
/// or normalisation, encoded separators, '%' in names and bidirectional controls are refused with 400 + E_INVALIDARG
/// before anything is stored; non-printing characters are escaped in logs.
/// </summary>
public sealed class NameHardeningTests(AzuriteFixture azurite)
{
    private const string Protocols = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static (string, string)[] CreateHeaders =>
        [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", Protocols), ("Content-Length", "0")];

    [Theory]
    [InlineData("/uploads/dir%2Fx.bin")]
    [InlineData("/uploads/dir%2fx.bin")]
    [InlineData("/uploads/dir%5Cx.bin")]
    [InlineData("/uploads/100%25.bin")]
    [InlineData("/uploads/%25%32%65.bin")]
    [InlineData("/uploads/%E2%80%AEgpj.exe")]
    [InlineData("/uploads/a%E2%80%8Eb.bin")]
    [InlineData("/uploads/a%D8%9Cb.bin")]
    [InlineData("/uploads/a%E2%81%A6b.bin")]
    [InlineData("/%75ploads/x.bin")]
    [InlineData("/UPLOADS/../%75ploads/y.bin")]
    public async Task RefusedTarget_Is400InvalidArg_AndStoresNothing(string target)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage);

        var (status, headers) = await RawHttp.SendAsync(host.Root, target, "BITS_POST", CreateHeaders);

        Assert.Equal(400, status);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Theory]
    [InlineData("uploads/sec/%2e%2e/abs.bin")]
    [InlineData("uploads/sec/%2E%2E/%2E%2E/abs.bin")]
    [InlineData("%75ploads/abs.bin")]
    public async Task AbsoluteFormTarget_IsCheckedAsSent(string pathAfterAuthority)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage);

        var (status, headers) = await RawHttp.SendAsync(host.Root, $"http://{host.Root.Authority}/{pathAfterAuthority}", "BITS_POST", CreateHeaders);

        Assert.Equal(400, status);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task AbsoluteFormTarget_UnderThePrefix_StillWorks()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage);

        var (status, headers) = await RawHttp.SendAsync(host.Root, $"http://{host.Root.Authority}/uploads/sec/fine.bin", "BITS_POST", CreateHeaders);

        Assert.Equal(200, status);
        Assert.True(headers.ContainsKey("BITS-Session-Id"));
    }

    [Theory]
    [InlineData("a%E2%80%8Db.bin")] // U+200D ZERO WIDTH JOINER (emoji, Indic scripts)
    [InlineData("%D9%85%DB%8C%E2%80%8C%D8%AE%D9%88%D8%A7%D9%87%D9%85.txt")] // Persian with U+200C ZERO WIDTH NON-JOINER
    public async Task JoinersStayLegal(string name)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage);

        var (status, _) = await RawHttp.SendAsync(host.Root, "/uploads/" + name, "BITS_POST", CreateHeaders);

        Assert.Equal(200, status);
    }

    [Theory]
    [InlineData("\u202Egpj.exe")]
    [InlineData("report\u2067.bin")]
    public async Task ContentNameWithBidiControl_Is400InvalidArg(string contentName)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage, configure: builder =>
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.RequestHeaderEncodingSelector = _ => Encoding.UTF8));
        using var http = new HttpClient(new SocketsHttpHandler { RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 });
        var url = host.Url("named.bin");

        using var create = HttpBits.Create(url);
        create.Headers.TryAddWithoutValidation("Content-Name", contentName);
        using var refused = await http.SendAsync(create, Ct);

        var id = await http.CreateSessionAsync(url);
        using var fragment = HttpBits.Fragment(url, id, new byte[10], 0, 10);
        fragment.Headers.Remove("Content-Name");
        fragment.Headers.TryAddWithoutValidation("Content-Name", contentName);
        using var refusedFragment = await http.SendAsync(fragment, Ct);

        refused.AssertAck(400);
        Assert.Equal("0x80070057", refused.Header("BITS-Error-Code"));
        refusedFragment.AssertAck(400);
        Assert.Equal("0x80070057", refusedFragment.Header("BITS-Error-Code"));
    }

    [Fact]
    public async Task NonPrintingCharactersInNames_AreEscapedInLogs()
    {
        var lines = new ConcurrentQueue<string>();
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using (var host = await TestHost.StartAsync(storage, configure: builder => builder.Logging.AddProvider(new LogCapture(lines))))
        {
            // U+2028 LINE SEPARATOR and U+200B ZERO WIDTH SPACE are legal in names but must not reach a log line raw.
            var (status, _) = await RawHttp.SendAsync(host.Root, "/uploads/a%E2%80%A8b%E2%80%8Bc.bin", "BITS_POST", CreateHeaders);
            Assert.Equal(200, status);
        }

        Assert.Contains(lines, l => l.Contains("a\\u2028b\\u200Bc.bin", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains('\u2028', StringComparison.Ordinal) || l.Contains('\u200B', StringComparison.Ordinal));
    }
}
