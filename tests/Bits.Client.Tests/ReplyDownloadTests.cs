using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

/// <summary><see cref="BitsUploadClient.DownloadReplyAsync"/>: GET with identity encoding, range resume, refusals.</summary>
public class ReplyDownloadTests
{
    private static readonly Uri ReplyUrl = new("https://bits.example.test/upload/report.bin?bits-reply=abc");

    /// <summary>Serves <paramref name="reply"/> like the BITS host's reply endpoint (200 or 206 for "bytes=N-").</summary>
    private static HttpResponseMessage Serve(RecordedRequest request, byte[] reply, int? breakAfter = null, DateTimeOffset? lastModified = null, bool ignoreRange = false)
    {
        var from = 0;
        var range = request.Header("Range");
        if (range is not null && !ignoreRange)
        {
            from = int.Parse(range["bytes=".Length..].TrimEnd('-'), CultureInfo.InvariantCulture);
        }

        var body = reply[from..];
        var response = new HttpResponseMessage(from == 0 ? HttpStatusCode.OK : HttpStatusCode.PartialContent)
        {
            Content = new StreamContent(new BreakingStream(body, breakAfter ?? int.MaxValue)),
        };
        response.Content.Headers.ContentLength = body.Length;
        response.Content.Headers.LastModified = lastModified ?? new DateTimeOffset(2026, 11, 25, 3, 0, 0, TimeSpan.Zero);
        if (from > 0)
        {
            response.Content.Headers.ContentRange = new ContentRangeHeaderValue(from, reply.Length - 1, reply.Length);
        }

        return response;
    }

    [Fact]
    public async Task WholeReply_OneGet_WithIdentityEncodingAndCustomHeaders()
    {
        var reply = RandomBytes(200_000);
        var (client, handler) = Scripted((request, _) => Serve(request, reply), o => o.CustomHeaders["x-functions-key"] = "k1");
        using var destination = new MemoryStream();

        var length = await client.DownloadReplyAsync(ReplyUrl, destination, Ct);

        Assert.Equal(reply.Length, length);
        Assert.Equal(reply, destination.ToArray());
        var get = Assert.Single(handler.Requests);
        Assert.Equal("GET", get.Method);
        Assert.Equal(ReplyUrl, get.Uri);
        Assert.Equal("identity", get.Header("Accept-Encoding"));
        Assert.Equal("k1", get.Header("x-functions-key"));
        Assert.Null(get.Header("Range"));
        Assert.Null(get.Header("BITS-Packet-Type"));
    }

    [Fact]
    public async Task EmptyReply_WritesNothing()
    {
        var (client, _) = Scripted((request, _) => Serve(request, []));
        using var destination = new MemoryStream();

        Assert.Equal(0, await client.DownloadReplyAsync(ReplyUrl, destination, Ct));
        Assert.Empty(destination.ToArray());
    }

    [Fact]
    public async Task BodyBreaksOff_ContinuesWithARangeFromTheBytesWritten()
    {
        var reply = RandomBytes(100_000);
        var (client, handler) = Scripted((request, index) => Serve(request, reply, breakAfter: index < 2 ? 30_000 : null));
        using var destination = new MemoryStream();

        var length = await client.DownloadReplyAsync(ReplyUrl, destination, Ct);

        Assert.Equal(reply.Length, length);
        Assert.Equal(reply, destination.ToArray());
        Assert.Equal([null, "bytes=30000-", "bytes=60000-"], handler.Requests.Select(r => r.Header("Range")));
    }

    [Fact]
    public async Task ServerIgnoresTheRange_ReadsTheWholeReplyAgain()
    {
        var reply = RandomBytes(50_000);
        var (client, handler) = Scripted((request, index) => Serve(request, reply, breakAfter: index == 0 ? 20_000 : null, ignoreRange: true));
        using var destination = new MemoryStream();

        await client.DownloadReplyAsync(ReplyUrl, destination, Ct);

        Assert.Equal(reply, destination.ToArray());
        Assert.Equal(2, handler.Requests.Count);
        Assert.Equal("bytes=20000-", handler.Requests[1].Header("Range"));
    }

    [Fact]
    public async Task ReplyChangesBetweenRequests_StartsOver()
    {
        var first = RandomBytes(40_000, seed: 1);
        var second = RandomBytes(40_000, seed: 2);
        var (client, handler) = Scripted((request, index) => index == 0
            ? Serve(request, first, breakAfter: 10_000)
            : Serve(request, second, lastModified: new DateTimeOffset(2026, 11, 25, 4, 0, 0, TimeSpan.Zero)));
        using var destination = new MemoryStream();

        await client.DownloadReplyAsync(ReplyUrl, destination, Ct);

        Assert.Equal(second, destination.ToArray());
        Assert.Equal([null, "bytes=10000-", null], handler.Requests.Select(r => r.Header("Range")));
    }

    [Fact]
    public async Task WritesFromTheDestinationsPosition()
    {
        var reply = RandomBytes(30_000);
        var (client, _) = Scripted((request, index) => Serve(request, reply, breakAfter: index == 0 ? 1_000 : null, ignoreRange: true));
        using var destination = new MemoryStream();
        destination.Write([1, 2, 3]);

        await client.DownloadReplyAsync(ReplyUrl, destination, Ct);

        Assert.Equal([1, 2, 3, .. reply], destination.ToArray());
    }

    [Fact]
    public async Task NotFound_IsFatal_AndSaysTheSessionMayBeClosed()
    {
        var (client, handler) = Scripted((_, _) => new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new ByteArrayContent([]) });

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => client.DownloadReplyAsync(ReplyUrl, new MemoryStream(), Ct));

        Assert.Equal(404, ex.StatusCode);
        Assert.Equal(BitsErrorCodes.HttpError(404), ex.ErrorCode);
        Assert.False(ex.RetriesExhausted);
        Assert.Contains("closed", ex.Message, StringComparison.Ordinal);
        Assert.Single(handler.Requests);
    }

    [Fact]
    public async Task TransientFailures_AreRetried_ThenGiveUpWithRetriesExhausted()
    {
        var reply = RandomBytes(1000);
        var (client, handler) = Scripted((request, index) => index < 2 ? Acks.Error(503, "0x80004005") : Serve(request, reply), o => o.MaxTransientRetries = 2);
        using var destination = new MemoryStream();

        await client.DownloadReplyAsync(ReplyUrl, destination, Ct);
        Assert.Equal(reply, destination.ToArray());
        Assert.Equal(3, handler.Requests.Count);

        var (failing, failingHandler) = Scripted((_, _) => throw new HttpRequestException("connection refused"), o => o.MaxTransientRetries = 2);
        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => failing.DownloadReplyAsync(ReplyUrl, new MemoryStream(), Ct));
        Assert.True(ex.RetriesExhausted);
        Assert.Null(ex.StatusCode);
        Assert.Equal(3, failingHandler.Requests.Count);
    }

    [Fact]
    public async Task NoContentLength_FailsWithMissingFileSize()
    {
        var (client, _) = Scripted((_, _) =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new BreakingStream([1, 2, 3], int.MaxValue)) };
            response.Content.Headers.ContentLength = null;
            return response;
        });

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => client.DownloadReplyAsync(ReplyUrl, new MemoryStream(), Ct));

        Assert.Equal("BG_E_MISSING_FILE_SIZE", ex.ErrorName);
    }

    [Fact]
    public async Task DestinationFailure_IsNotRetried()
    {
        var reply = RandomBytes(10_000);
        var (client, handler) = Scripted((request, _) => Serve(request, reply));

        await Assert.ThrowsAsync<IOException>(() => client.DownloadReplyAsync(ReplyUrl, new FullDiskStream(), Ct));

        Assert.Single(handler.Requests);
    }

    /// <summary>A destination whose writes fail like a full disk.</summary>
    private sealed class FullDiskStream : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
            => ValueTask.FromException(new IOException("No space left on device"));
    }

    /// <summary>A non-seekable body that fails with an IOException after <c>breakAfter</c> bytes.</summary>
    private sealed class BreakingStream(byte[] data, int breakAfter) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= breakAfter && _position < data.Length)
            {
                throw new IOException("connection reset by peer");
            }

            var n = Math.Min(count, Math.Min(data.Length, breakAfter) - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
