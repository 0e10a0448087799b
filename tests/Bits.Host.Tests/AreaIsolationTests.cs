using System.Text.Json;
using System.Text.RegularExpressions;
using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.Extensions.Options;

namespace Bits.Host.Tests;

/// <summary>
/// Issue 12, points 1 and 2: a packet's policy comes from its session's recorded area, and no two areas can name the
/// same blob. Over HTTP on Azurite; the "config changed" cases restart the host on the same storage.
/// </summary>
public class AreaIsolationTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An upload-reply area, blob names under <c>scans/</c>; the back-end is never reached in these tests.</summary>
    private static Dictionary<string, string?> ScansArea(string name = "scans", bool notify = true)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"Bits:Areas:{name}:PathPrefix"] = "scans",
            [$"Bits:Areas:{name}:BlobPrefix"] = "scans/",
        };
        if (notify)
        {
            settings[$"Bits:Areas:{name}:NotificationType"] = "ByValue";
            settings[$"Bits:Areas:{name}:NotificationUrl"] = "http://127.0.0.1:9/never";
        }

        return settings;
    }

    [Theory]
    [InlineData("removed")]
    [InlineData("renamed")]
    public async Task SessionOfAnAreaThatIsGoneOrRenamed_IsNotFound_AndNothingIsPublished(string change)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var file = SeededStream.Bytes(5000, 1);
        var url = new Uri("scans/evil.exe", UriKind.Relative);
        string id;
        await using (var before = await TestHost.StartAsync(storage, ScansArea()))
        {
            using var http = new HttpClient();
            id = await http.CreateSessionAsync(before.Url(url.OriginalString));
        }

        // The same URL now resolves to the default area (area removed) or to an area of another name: the session was
        // created under the back-end's policy and must not be completed under another one.
        await using var after = await TestHost.StartAsync(storage, change == "removed" ? [] : ScansArea("scanner", notify: false));
        using (var http = new HttpClient())
        {
            using var fragment = await http.SendAsync(HttpBits.Fragment(after.Url(url.OriginalString), id, file, 0, file.Length), Ct);
            using var close = await http.SendAsync(HttpBits.Packet(after.Url(url.OriginalString), "Close-Session", id), Ct);

            fragment.AssertAck(500);
            Assert.Equal("0x8020001F", fragment.Header("BITS-Error-Code"));
            close.AssertAck(500);
            Assert.Equal("0x8020001F", close.Header("BITS-Error-Code"));
        }

        Assert.False((await storage.Uploads.GetBlobClient("scans/evil.exe").ExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task DisabledArea_RefusesFragmentAndClose_ButNotCancel()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var file = new byte[3000];
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Areas:drop:PathPrefix"] = "drop",
            ["Bits:Areas:drop:BlobPrefix"] = "drop/",
        };
        string sending, closing;
        await using (var before = await TestHost.StartAsync(storage, settings))
        {
            using var http = new HttpClient();
            sending = await http.CreateSessionAsync(before.Url("drop/a.bin"));
            closing = await http.CreateSessionAsync(before.Url("drop/b.bin"));
            using var all = await http.SendAsync(HttpBits.Fragment(before.Url("drop/b.bin"), closing, file, 0, file.Length), Ct);
            all.AssertAck(200);
        }

        settings["Bits:Areas:drop:Enabled"] = "false";
        await using var after = await TestHost.StartAsync(storage, settings);
        using (var http = new HttpClient())
        {
            using var fragment = await http.SendAsync(HttpBits.Fragment(after.Url("drop/a.bin"), sending, file, 0, file.Length), Ct);
            using var close = await http.SendAsync(HttpBits.Packet(after.Url("drop/b.bin"), "Close-Session", closing), Ct);
            using var cancel = await http.SendAsync(HttpBits.Packet(after.Url("drop/a.bin"), "Cancel-Session", sending), Ct);

            fragment.AssertAck(501);
            Assert.Equal("0x80070005", fragment.Header("BITS-Error-Code"));
            close.AssertAck(501);
            Assert.Equal("0x80070005", close.Header("BITS-Error-Code"));
            cancel.AssertAck(200);
        }

        Assert.False((await storage.Uploads.GetBlobClient("drop/b.bin").ExistsAsync(Ct)).Value);
    }

    /// <summary>The default area takes the area key <c>Enabled</c> at top level (issue 17, point 5); areas do not inherit it.</summary>
    [Fact]
    public async Task DefaultAreaDisabled_ByBitsEnabled_RefusesItsPaths_OtherAreasStayOpen()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = ScansArea(notify: false);
        settings["Bits:Enabled"] = "false";
        await using var host = await TestHost.StartAsync(storage, settings);
        using var http = new HttpClient();

        using var refused = await http.SendAsync(HttpBits.Create(host.Url("a.bin")), Ct);
        var open = await http.CreateSessionAsync(host.Url("scans/a.bin"));

        refused.AssertAck(501);
        Assert.Equal("0x80070005", refused.Header("BITS-Error-Code"));
        Assert.NotEmpty(open);
    }

    public static TheoryData<string, string[]> SharingConfigurations() => new()
    {
        // The attack: the README's old example (a "scans" area without Container or BlobPrefix).
        { "default", ["Bits:Enabled=false", "Bits:Areas:scans:PathPrefix=scans", "Bits:Areas:scans:NotificationType=ByValue", "Bits:Areas:scans:NotificationUrl=https://scanner.example/api"] },

        // An authenticated area beside the anonymous default area, same container and no prefix of its own.
        { "default", ["Bits:Areas:sec:PathPrefix=sec", "Bits:Areas:sec:Authentication:AllowAnonymous=false", "Bits:Areas:sec:Authentication:Basic=true", "Bits:Authentication:AllowBasicOverHttp=true", "Bits:Authentication:BasicUsers:alice=" + BasicHash] },

        // Naming the default container explicitly shares it too.
        { "default", ["Bits:Areas:sec:PathPrefix=sec", "Bits:Areas:sec:Container={uploads}"] },

        // Two areas with the same blob prefix.
        { "one", ["Bits:Areas:one:PathPrefix=one", "Bits:Areas:one:BlobPrefix=x/", "Bits:Areas:two:PathPrefix=two", "Bits:Areas:two:BlobPrefix=x/"] },

        // A blob prefix that is not the area's own path: /uploads/in/a.bin (default) and /uploads/sec/a.bin (sec) meet.
        { "default", ["Bits:Areas:sec:PathPrefix=sec", "Bits:Areas:sec:BlobPrefix=in/"] },
    };

    private static readonly string BasicHash = BitsPasswordHasher.Hash("alice-pw", 1000);

    [Theory]
    [MemberData(nameof(SharingConfigurations))]
    public async Task Startup_RefusesAreasThatCanNameTheSameBlob_NamingBoth(string other, string[] pairs)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = pairs.Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => (string?)p[1].Replace("{uploads}", storage.UploadContainer, StringComparison.Ordinal));
        var area = settings.Keys.Select(k => Regex.Match(k, "^Bits:Areas:([^:]+):").Groups[1].Value).First(n => n.Length > 0 && n != other);

        var refused = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => TestHost.StartAsync(storage, settings));

        Assert.Contains($"'{other}'", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"'{area}'", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExactShadowing_IsLegal_AndKeepsTheAreasApart()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:Areas:sec:PathPrefix"] = "sec",
            ["Bits:Areas:sec:BlobPrefix"] = "sec/",
        });
        using var http = new HttpClient();
        var plain = await http.CreateSessionAsync(host.Url("a.bin"));
        var sec = await http.CreateSessionAsync(host.Url("sec/a.bin"));
        var one = new byte[] { 1 };
        var two = new byte[] { 2, 2 };
        (await http.SendAsync(HttpBits.Fragment(host.Url("a.bin"), plain, one, 0, 1), Ct)).AssertAck(200);
        (await http.SendAsync(HttpBits.Fragment(host.Url("sec/a.bin"), sec, two, 0, 2), Ct)).AssertAck(200);
        (await http.SendAsync(HttpBits.Packet(host.Url("a.bin"), "Close-Session", plain), Ct)).AssertAck(200);
        (await http.SendAsync(HttpBits.Packet(host.Url("sec/a.bin"), "Close-Session", sec), Ct)).AssertAck(200);

        Assert.Equal(one, await storage.ReadPublishedAsync("a.bin"));
        Assert.Equal(two, await storage.ReadPublishedAsync("sec/a.bin"));
    }

    [Fact]
    public async Task ReadmeExampleConfiguration_PassesStartUpValidation()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Find(), "README.md"), Ct);
        var section = readme[readme.IndexOf("## Upload areas", StringComparison.Ordinal)..];
        var json = Regex.Match(section, "```json\\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        using (var document = JsonDocument.Parse(json))
        {
            Flatten(document.RootElement, string.Empty, settings);
        }

        Assert.Contains("Bits:Areas:scans:PathPrefix", settings.Keys);
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage, settings);
        using var http = new HttpClient();
        using var ping = await http.SendAsync(HttpBits.Packet(host.Url("scans/x.bin"), "Ping"), Ct);
        ping.AssertAck(200);
    }

    private static void Flatten(JsonElement element, string prefix, Dictionary<string, string?> settings)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                Flatten(property.Value, prefix.Length == 0 ? property.Name : prefix + ":" + property.Name, settings);
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in element.EnumerateArray())
            {
                Flatten(item, prefix + ":" + i++, settings);
            }
        }
        else
        {
            settings[prefix] = element.ValueKind == JsonValueKind.Null ? null : element.ToString();
        }
    }
}
