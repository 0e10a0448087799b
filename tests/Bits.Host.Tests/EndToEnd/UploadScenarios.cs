using Bits.Client;
using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>The protocol end to end, the same on both hosts: Ping, uploads, 413, unknown sessions, Close, Cancel.</summary>
public class UploadScenarios(AzuriteFixture azurite, EndToEndHosts hosts) : Scenario(azurite, hosts)
{
    private const long MinFragment = 5 * 1024;
    private const long MaxFragment = 13 * 1024 * 1024;

    public static TheoryData<HostKind, int, int> RandomUploads => new()
    {
        { HostKind.Kestrel, 1, 27_654_321 },
        { HostKind.Kestrel, 2, 9_876_543 },
        { HostKind.Functions, 1, 27_654_321 },
        { HostKind.Functions, 2, 9_876_543 },
    };

    /// <summary>Random fragment sizes between 5 KB and 13 MB, with injected retransmits, overlaps and gaps.</summary>
    private static Func<FragmentRequest, FragmentPlan> FaultyPlanner(int seed, double faultRate = 0.1)
    {
        var random = new Random(seed);
        return request =>
        {
            var length = random.NextInt64(MinFragment, MaxFragment + 1);
            var first = request.NextOffset;
            var roll = random.NextDouble();
            if (roll < faultRate / 3 && request.NextOffset > 0)
            {
                first = Math.Max(0, request.NextOffset - random.NextInt64(1, MaxFragment)); // retransmit / overlap
            }
            else if (roll < 2 * faultRate / 3 && request.NextOffset > 0)
            {
                first = Math.Max(0, request.NextOffset - random.NextInt64(1, 4096)); // small overlap
            }
            else if (roll < faultRate)
            {
                first = Math.Min(request.TotalLength - 1, request.NextOffset + random.NextInt64(1, MaxFragment)); // gap
            }

            return new FragmentPlan(first, Math.Min(length, request.TotalLength - first));
        };
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Ping_IsAcked(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();

        using var ping = await http.SendAsync(HttpBits.Packet(host.Url("ping.bin"), "Ping"), Ct);

        ping.AssertAck(200);
        Assert.Null(ping.Header("BITS-Error-Code"));
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task ContentName_SentOnlyOnFragments_IsRecorded(HostKind kind)
    {
        // Rule 6a.9: Windows Vista SP1 and later send Content-Name only on Fragment packets (MC-BUP notes <5>, <11>).
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var name = $"named/{Unique()}.bin";
        var url = host.Url(name);
        var file = SeededStream.Bytes(20_000, 9);
        var id = await http.CreateSessionAsync(url); // no Content-Name here
        foreach (var first in new[] { 0, 10_000 })
        {
            using var fragment = HttpBits.Fragment(url, id, file, first, 10_000);
            fragment.Headers.Remove("Content-Name");
            fragment.Headers.Add("Content-Name", "quarterly report.pdf");
            using var ack = await http.SendAsync(fragment, Ct);
            ack.AssertAck(200);
        }

        using (var close = await http.SendAsync(HttpBits.Packet(url, "Close-Session", id), Ct))
        {
            close.AssertAck(200);
        }

        var properties = await host.Storage.Uploads.GetBlobClient(name).GetPropertiesAsync(cancellationToken: Ct);
        Assert.Equal("quarterly report.pdf", Uri.UnescapeDataString(properties.Value.Metadata["bitscontentname"]));
    }

    [Theory]
    [MemberData(nameof(RandomUploads))]
    public async Task Upload_RandomFragmentsWithRetransmitsOverlapsAndGaps_IsByteIdentical(HostKind kind, int seed, int size)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var file = SeededStream.Bytes(size, seed);
        var name = $"e2e/{Unique()}/{seed}.bin";

        var result = await Client(http, FaultyPlanner(seed)).UploadAsync(host.Url(name), new MemoryStream(file), "source.bin", ct: Ct);

        Assert.Equal(file.Length, result.Bytes);
        Assert.Equal(file, await host.Storage.ReadPublishedAsync(name));
        await AssertNothingLeftAsync(host, result.SessionId);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Fragment_AboveMaxFragmentBytes_Gets413_AndTheClientShrinks(HostKind kind)
    {
        var host = await HostAsync(kind);
        var statuses = new List<int>();
        using var http = new HttpClient(new StatusRecorder(statuses, host.CreateHandler()));
        var file = SeededStream.Bytes(20_000_000, 9);
        var name = $"limits/{Unique()}.bin";
        var client = new BitsUploadClient(http, new BitsClientOptions
        {
            RetryDelay = TimeSpan.Zero,
            InitialFragmentBytes = 16 * 1024 * 1024,
            MaxFragmentBytes = 16 * 1024 * 1024,
        });

        var result = await client.UploadAsync(host.Url(name), new MemoryStream(file), ct: Ct);

        // Create-Session, the client's probe fragment, then 16 MiB: refused, and the client goes on with smaller ones.
        Assert.Equal([200, 200, 413], statuses[..3]);
        Assert.True(result.FinalFragmentBytes <= EndToEndHosts.MaxFragmentBytes, $"{result.FinalFragmentBytes}");
        Assert.Equal(file, await host.Storage.ReadPublishedAsync(name));
        await AssertNothingLeftAsync(host, result.SessionId);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Fragment_UnknownSession_Returns500SessionNotFound(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();

        using var ack = await http.SendAsync(HttpBits.Fragment(host.Url("unknown.bin"), "{6F9619FF-8B86-D011-B42D-00C04FC964FF}", new byte[10], 0, 10), Ct);

        ack.AssertAck(500);
        Assert.Equal("0x8020001F", ack.Header("BITS-Error-Code"));
        Assert.Equal("0x5", ack.Header("BITS-Error-Context"));
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Upload_OverHttp_CloseAndARepeatedClose_PublishOnceAndCleanUp(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var file = SeededStream.Bytes(300_000, 1);
        var token = Unique();
        var url = host.Url($"reports-{token}/2026/q4%20data+final.bin");

        string id;
        using (var create = await http.SendAsync(HttpBits.Create(url), Ct))
        {
            create.AssertAck(200);
            Assert.Equal("{7df0354d-249b-430f-820d-3d2a9bef4931}", create.Header("BITS-Protocol"));
            Assert.Equal("identity", create.Header("Accept-Encoding"));
            id = create.Header("BITS-Session-Id")!;
            Assert.Matches("^\\{[0-9A-F-]{36}\\}$", id);
        }

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

        using (var again = await http.SendAsync(HttpBits.Packet(url, "Close-Session", id), Ct))
        {
            again.AssertAck(200);
        }

        Assert.Equal(file, await host.Storage.ReadPublishedAsync($"reports-{token}/2026/q4 data+final.bin"));
        await AssertNothingLeftAsync(host, id);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Cancel_MidUpload_LeavesNothingBehind(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var client = Client(http);
        var file = SeededStream.Bytes(200_000, 6);
        var name = $"cancelled/{Unique()}.bin";
        var url = host.Url(name);
        var id = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        await client.SendFragmentAsync(url, id, file.AsMemory(0, 100_000), 0, file.Length, ct: Ct);

        var cancel = await client.CancelSessionAsync(url, id, Ct);
        var late = await client.SendFragmentAsync(url, id, file.AsMemory(100_000), 100_000, file.Length, ct: Ct);

        Assert.Equal(200, cancel.StatusCode);
        Assert.Equal(500, late.StatusCode);
        Assert.Equal(0x8020001Fu, late.ErrorCode);
        await AssertNothingLeftAsync(host, id);
        Assert.False(await host.Storage.Uploads.GetBlobClient(name).ExistsAsync(Ct));
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Upload_EmptyFile_PublishesEmptyBlob(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var name = $"empty/{Unique()}.bin";

        var result = await Client(http).UploadAsync(host.Url(name), new MemoryStream(), ct: Ct);

        Assert.Empty(await host.Storage.ReadPublishedAsync(name));
        await AssertNothingLeftAsync(host, result.SessionId);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task PostWithMethodOverride_IsTreatedAsBitsPost(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var request = HttpBits.Packet(host.Url("override.bin"), "Ping", method: HttpMethod.Post);
        request.Headers.Add("X-Http-Method-Override", "BITS_POST");

        using var response = await http.SendAsync(request, Ct);

        response.AssertAck(200);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Get_OnUploadUrl_Returns405Ack(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();

        using var response = await http.GetAsync(host.Url("a.bin"), Ct);

        response.AssertAck(405);
        Assert.Equal("0x80190195", response.Header("BITS-Error-Code"));
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Fragment_MalformedRange_Returns400WithErrorHeaders(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var url = host.Url($"malformed/{Unique()}.bin");
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

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Header_Over4KB_Returns400(HostKind kind)
    {
        var host = await HostAsync(kind);

        var (status, headers) = await host.SendRawAsync("/uploads/a.bin", "BITS_POST",
            [("BITS-Packet-Type", "Ping"), ("Content-Length", "0"), ("X-Padding", new string('x', 5000))]);

        Assert.Equal(400, status);
        Assert.Equal("0x80070057", headers["BITS-Error-Code"]);
    }

    /// <summary>Records the status of every response, in order.</summary>
    private sealed class StatusRecorder(List<int> statuses, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            lock (statuses)
            {
                statuses.Add((int)response.StatusCode);
            }

            return response;
        }
    }
}
