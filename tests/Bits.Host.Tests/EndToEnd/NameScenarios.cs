using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>
/// Name handling: the same URL gives the same blob name, or the same refusal, on both hosts (digest rule 3). Paths are
/// sent exactly as written (no client-side normalisation); <c>{n}</c> stands for a name unique to the run.
/// </summary>
public class NameScenarios(AzuriteFixture azurite, EndToEndHosts hosts) : Scenario(azurite, hosts)
{
    /// <summary>URL path under /uploads/ and the blob name it must give.</summary>
    public static TheoryData<HostKind, string, string> Accepted => Cross(
        ("names-{n}/a%20b.bin", "names-{n}/a b.bin"),
        ("names-{n}/a%20b%2Bc.bin", "names-{n}/a b+c.bin"),
        ("names-{n}/plus+plus.bin", "names-{n}/plus+plus.bin"),
        ("names-{n}/%C3%A9t%C3%A9/%E6%97%A5%E6%9C%AC.bin", "names-{n}/\u00e9t\u00e9/\u65e5\u672c.bin"),
        ("names-{n}/deep/er/still/x.bin", "names-{n}/deep/er/still/x.bin"));

    /// <summary>URL path under /uploads/ refused with 400 + 0x80070057 by the app on both hosts.</summary>
    public static TheoryData<HostKind, string> RefusedByTheApp
    {
        get
        {
            var rows = new TheoryData<HostKind, string>();
            foreach (var kind in new[] { HostKind.Kestrel, HostKind.Functions })
            {
                rows.Add(kind, "a%5C..%5C{n}.bin");
                rows.Add(kind, "{n}%5Cb.bin");
                rows.Add(kind, "{n}/a%01b.bin");
                rows.Add(kind, "{n}/a%0Ab.bin");
                rows.Add(kind, "{n}/a%7Fb.bin");
                rows.Add(kind, "{n}/dir/");
            }

            // Raw %2F/%5C and a name still holding '%' after decoding (rule 3): the Functions host re-encodes '%' when
            // it forwards a path, so only refusing them on both hosts makes the two agree.
            rows.Add(new TheoryDataRow<HostKind, string>(HostKind.Kestrel, "..%2f..%2f{n}.bin"));
            rows.Add(new TheoryDataRow<HostKind, string>(HostKind.Functions, "..%2f..%2f{n}.bin"));
            foreach (var kind in new[] { HostKind.Kestrel, HostKind.Functions })
            {
                rows.Add(new TheoryDataRow<HostKind, string>(kind, "{n}/a%2Fb.bin"));
                rows.Add(new TheoryDataRow<HostKind, string>(kind, "{n}/a%2fb.bin"));
                rows.Add(new TheoryDataRow<HostKind, string>(kind, "..%252f..%252f{n}.bin"));
                rows.Add(new TheoryDataRow<HostKind, string>(kind, "{n}/100%25.bin"));
            }

            return rows;
        }
    }

    /// <summary>Dot segments, raw or encoded: resolved by the host before routing (see "Functions host" in docs/protocol-compliance.md).</summary>
    public static TheoryData<HostKind, string> DotSegments => Cross(
        "a/../../{n}.bin",
        "a/%2e%2e/%2e%2e/{n}.bin",
        "../{n}.bin");

    [Theory]
    [MemberData(nameof(Accepted))]
    public async Task Name_IsDecodedOnce_PlusKept_NestedAllowed_SameBlobOnBothHosts(HostKind kind, string path, string blob)
    {
        var host = await HostAsync(kind);
        var n = Unique();
        path = path.Replace("{n}", n, StringComparison.Ordinal);
        blob = blob.Replace("{n}", n, StringComparison.Ordinal);
        var file = SeededStream.Bytes(1000, path.Length);

        var id = await UploadRawAsync(host, "/uploads/" + path, file);

        Assert.Equal(file, await host.Storage.ReadPublishedAsync(blob));
        Assert.Equal([blob], await PublishedNamesContainingAsync(host, n));
        await AssertNothingLeftAsync(host, id);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task QueryString_IsNeverPartOfTheName(HostKind kind)
    {
        var host = await HostAsync(kind);
        var n = Unique();

        // On the Functions host the key itself travels in the query (?code=), as clients without custom headers send it.
        var code = host.Process?.FunctionKey ?? "abc";
        var id = await UploadRawAsync(host, $"/uploads/q/{n}.bin?code={Uri.EscapeDataString(code)}&x=%2F..", [1, 2, 3], sendKeyHeader: false);

        Assert.Equal([1, 2, 3], await host.Storage.ReadPublishedAsync($"q/{n}.bin"));
        Assert.Equal([$"q/{n}.bin"], await PublishedNamesContainingAsync(host, n));
        await AssertNothingLeftAsync(host, id);
    }

    [Theory]
    [MemberData(nameof(RefusedByTheApp))]
    public async Task CreateSession_BadName_Returns400AndWritesNothing(HostKind kind, string path)
    {
        var host = await HostAsync(kind);
        var n = Unique();

        var (status, headers) = await CreateRawAsync(host, "/uploads/" + path.Replace("{n}", n, StringComparison.Ordinal));

        Assert.Equal(400, status);
        Assert.Equal("Ack", headers["BITS-Packet-Type"]);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
        Assert.Equal("0", headers["Content-Length"]);
        Assert.False(headers.ContainsKey("BITS-Session-Id"));
        Assert.Empty(await PublishedNamesContainingAsync(host, n));
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task CreateSession_NulInName_IsRefusedByKestrelItself_OnBothHosts(HostKind kind)
    {
        var host = await HostAsync(kind);
        var n = Unique();

        var (status, headers) = await CreateRawAsync(host, $"/uploads/{n}/a%00b.bin");

        // Both hosts run on Kestrel, which refuses an encoded NUL in the path before any application code.
        Assert.Equal(400, status);
        Assert.False(headers.ContainsKey("BITS-Packet-Type"));
        Assert.Empty(await PublishedNamesContainingAsync(host, n));
    }

    [Theory]
    [MemberData(nameof(DotSegments))]
    public async Task CreateSession_DotSegments_AreRefused_AndWriteNothing(HostKind kind, string path)
    {
        var host = await HostAsync(kind);
        var n = Unique();

        var (status, headers) = await CreateRawAsync(host, "/uploads/" + path.Replace("{n}", n, StringComparison.Ordinal));

        if (kind == HostKind.Kestrel)
        {
            // The app sees the raw target and refuses it with an Ack.
            Assert.Equal(400, status);
            Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
        }
        else
        {
            // The Functions host removes dot segments before routing: the path leaves /uploads/, no function matches,
            // and the host answers 404 itself (documented under "Functions host").
            Assert.Equal(404, status);
            Assert.False(headers.ContainsKey("BITS-Packet-Type"));
        }

        Assert.False(headers.ContainsKey("BITS-Session-Id"));
        Assert.Empty(await PublishedNamesContainingAsync(host, n));
    }

    private static Task<(int Status, Dictionary<string, string> Headers)> CreateRawAsync(EndToEndHost host, string target) =>
        host.SendRawAsync(target, "BITS_POST",
        [
            ("BITS-Packet-Type", "Create-Session"),
            ("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}"),
            ("Content-Length", "0"),
        ]);

    /// <summary>Create, one Fragment, Close, all to <paramref name="target"/> exactly as written; returns the session id.</summary>
    private static async Task<string> UploadRawAsync(EndToEndHost host, string target, byte[] file, bool sendKeyHeader = true)
    {
        var key = sendKeyHeader ? host.KeyHeaders.ToList() : [];
        var (status, headers) = await RawHttp.SendAsync(host.Root, target, "BITS_POST",
            [.. key, ("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}"), ("Content-Length", "0")]);
        Assert.True(status == 200, $"Create-Session to {target}: {status} {string.Join(", ", headers.Select(h => h.Key + ": " + h.Value))}");
        var id = headers["BITS-Session-Id"];
        (status, headers) = await RawHttp.SendAsync(host.Root, target, "BITS_POST",
            [.. key, ("BITS-Packet-Type", "Fragment"), ("BITS-Session-Id", id), ("Content-Range", $"bytes 0-{file.Length - 1}/{file.Length}"), ("Content-Length", file.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            file);
        Assert.True(status == 200, $"Fragment to {target}: {status} {headers.GetValueOrDefault("BITS-Error-Code")}");
        (status, _) = await RawHttp.SendAsync(host.Root, target, "BITS_POST",
            [.. key, ("BITS-Packet-Type", "Close-Session"), ("BITS-Session-Id", id), ("Content-Length", "0")]);
        Assert.Equal(200, status);
        return id;
    }

    private static TheoryData<HostKind, string, string> Cross(params (string Path, string Blob)[] cases)
    {
        var rows = new TheoryData<HostKind, string, string>();
        foreach (var kind in new[] { HostKind.Kestrel, HostKind.Functions })
        {
            foreach (var (path, blob) in cases)
            {
                rows.Add(kind, path, blob);
            }
        }

        return rows;
    }

    private static TheoryData<HostKind, string> Cross(params string[] paths)
    {
        var rows = new TheoryData<HostKind, string>();
        foreach (var kind in new[] { HostKind.Kestrel, HostKind.Functions })
        {
            foreach (var path in paths)
            {
                rows.Add(kind, path);
            }
        }

        return rows;
    }
}
