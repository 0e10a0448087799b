using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class TransientRetryTests
{
    [Fact]
    public async Task UploadAsync_Transient503_RetriedThenSucceeds()
    {
        var rig = new TestRig();
        var failures = 0;
        rig.Server.Intercept = (request, _) =>
            request.ContentRange == "bytes 16384-32767/40000" && failures++ < 3 ? Acks.Ack(503) : null;
        var data = RandomBytes(40_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(3, result.TransientRetries);
        Assert.Equal(3, result.FragmentsSent);
        Assert.Equal(4, rig.Handler.Packets("Fragment").Count(f => f.ContentRange == "bytes 16384-32767/40000"));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(504)]
    [InlineData(408)]
    [InlineData(409)]
    [InlineData(306)]
    [InlineData(308)]
    public async Task UploadAsync_TransientStatus_IsRetried(int status)
    {
        var rig = new TestRig();
        var failed = false;
        rig.Server.Intercept = (request, _) =>
        {
            if (!failed && request.PacketType == "Fragment")
            {
                failed = true;
                return Acks.Response(status, packetType: null);
            }

            return null;
        };
        var data = RandomBytes(1000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(1, result.TransientRetries);
    }

    [Fact]
    public async Task UploadAsync_NetworkException_RetriedThenSucceeds()
    {
        var rig = new TestRig();
        var calls = 0;
        rig.Server.Intercept = (request, _) => calls++ switch
        {
            0 => throw new HttpRequestException("connection refused"),                               // Ping
            2 => throw new IOException("connection reset"),                                         // Create-Session
            3 => throw new TaskCanceledException("HttpClient.Timeout elapsed", new TimeoutException()), // Create-Session again
            5 => throw new HttpRequestException("connection reset"),                               // Fragment
            _ => null,
        };
        var data = RandomBytes(1000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(4, result.TransientRetries);
        Assert.Equal(["Ping", "Ping", "Create-Session", "Create-Session", "Create-Session", "Fragment", "Fragment", "Close-Session"], rig.Handler.Requests.Select(r => r.PacketType));
    }

    [Fact]
    public async Task UploadAsync_TornFragment_ServerKeepsPartialBytes_ClientResyncs()
    {
        // The body of a fragment was cut: the model stored the first 300 bytes, the client saw a network error.
        var rig = new TestRig();
        var cut = false;
        rig.Server.Intercept = (request, _) =>
        {
            if (!cut && request.PacketType == "Fragment")
            {
                cut = true;
                var torn = new RecordedRequest
                {
                    Method = request.Method,
                    Uri = request.Uri,
                    Version = request.Version,
                    Headers = new Dictionary<string, string>(request.Headers, StringComparer.OrdinalIgnoreCase)
                    {
                        ["Content-Range"] = "bytes 0-299/1000",
                        ["Content-Length"] = "300",
                    },
                    Body = request.Body[..300],
                };
                rig.Server.Handle(torn);
                throw new HttpRequestException("response ended prematurely");
            }

            return null;
        };
        var data = RandomBytes(1000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(1, result.TransientRetries);
        Assert.Equal(0, result.Retransmits); // the resend overlaps; the server stores only bytes 300..999 and acks 1000
    }

    [Fact]
    public async Task UploadAsync_TransientForever_GivesUpAfterMaxRetries()
    {
        var rig = new TestRig(o => o.MaxTransientRetries = 3);
        rig.Server.Intercept = (request, _) => request.PacketType == "Fragment" ? Acks.Error(503, "0x80004005") : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal(4, rig.Handler.Packets("Fragment").Count());
        Assert.Equal(503, ex.StatusCode);
        Assert.Equal("E_FAIL", ex.ErrorName);
        Assert.NotNull(ex.SessionId);
        Assert.Contains("4 times", ex.Message, StringComparison.Ordinal);
        Assert.Empty(rig.Handler.Packets("Cancel-Session"));
    }

    [Fact]
    public async Task UploadAsync_NetworkDownForever_ThrowsWithInnerException()
    {
        var (client, handler) = TestRig.Scripted((_, _) => throw new HttpRequestException("no route to host"), o => o.MaxTransientRetries = 2);

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => client.UploadAsync(Url, new MemoryStream(new byte[5]), ct: Ct));

        Assert.IsType<HttpRequestException>(ex.InnerException);
        Assert.Null(ex.StatusCode);
        Assert.Equal("Ping", ex.PacketType);
        Assert.Equal(3, handler.Requests.Count);
    }

    [Fact]
    public async Task UploadAsync_FailureCountIsPerPacketAndConsecutive()
    {
        var rig = new TestRig(o => o.MaxTransientRetries = 2);
        var perRange = new Dictionary<string, int>();
        rig.Server.Intercept = (request, _) =>
        {
            if (request.PacketType != "Fragment")
            {
                return null;
            }

            perRange[request.ContentRange!] = perRange.GetValueOrDefault(request.ContentRange!) + 1;
            return perRange[request.ContentRange!] <= 2 ? Acks.Ack(503) : null;
        };
        var data = RandomBytes(40_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(6, result.TransientRetries);
    }

    [Fact]
    public void RetryDelay_IsExponentialAndCapped()
    {
        var baseDelay = TimeSpan.FromSeconds(1);

        Assert.Equal(TimeSpan.FromSeconds(1), BitsUploadClient.RetryDelayFor(baseDelay, 1));
        Assert.Equal(TimeSpan.FromSeconds(2), BitsUploadClient.RetryDelayFor(baseDelay, 2));
        Assert.Equal(TimeSpan.FromSeconds(16), BitsUploadClient.RetryDelayFor(baseDelay, 5));
        Assert.Equal(TimeSpan.FromSeconds(30), BitsUploadClient.RetryDelayFor(baseDelay, 6));
        Assert.Equal(TimeSpan.FromSeconds(30), BitsUploadClient.RetryDelayFor(baseDelay, 100));
        Assert.Equal(TimeSpan.Zero, BitsUploadClient.RetryDelayFor(TimeSpan.Zero, 3));
    }

    [Theory]
    [InlineData(503, null, true)]
    [InlineData(500, "0x80004005", true)]
    [InlineData(500, "0x8020001F", false)]
    [InlineData(500, "0x80200020", false)]
    [InlineData(501, "0x80070005", false)]
    [InlineData(505, null, false)]
    [InlineData(408, null, true)]
    [InlineData(409, null, true)]
    [InlineData(400, "0x80070057", false)]
    [InlineData(403, "0x80070005", false)]
    [InlineData(404, null, false)]
    [InlineData(413, null, false)]
    [InlineData(416, null, false)]
    [InlineData(300, null, false)]
    [InlineData(305, null, false)]
    [InlineData(307, null, false)]
    [InlineData(306, null, true)]
    [InlineData(200, null, false)]
    public void IsTransient_FollowsWindowsClassification(int status, string? errorCode, bool transient)
    {
        var headers = errorCode is null ? [] : new[] { KeyValuePair.Create("BITS-Error-Code", errorCode) };

        Assert.Equal(transient, BitsUploadClient.IsTransient(new BitsAck(status, headers)));
    }
}
