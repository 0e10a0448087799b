using Bits.Testing;

namespace Bits.Protocol.Tests;

public class FragmentTests
{
    private const string Path = "/dir/file.bin";

    [Fact]
    public async Task Fragment_InOrder_Returns200WithNextOffset()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(4892);
        var id = await harness.CreateSessionAsync(Path);

        var first = await harness.FragmentAsync(Path, id, file, 0, 128);
        var second = await harness.FragmentAsync(Path, id, file, 128, 85);

        AckAssert.IsAck(first, 200);
        AckAssert.Received(first, 128);
        AckAssert.Received(second, 213);
        Assert.Equal(id, second.GetHeader(BitsHeaders.SessionId));
        Assert.Null(second.GetHeader(BitsHeaders.ErrorCode));
    }

    [Fact]
    public async Task Fragment_ExactRetransmit_Returns200WithCurrentOffsetAndStoresNothing()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(1000);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 400);
        await harness.FragmentAsync(Path, id, file, 400, 300);

        var again = await harness.FragmentAsync(Path, id, file, 0, 400);

        AckAssert.IsAck(again, 200);
        AckAssert.Received(again, 700);
    }

    [Fact]
    public async Task Fragment_PartialOverlap_StoresOnlyNewBytes()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(1000);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 400);

        var overlap = await harness.FragmentAsync(Path, id, file, 300, 700);
        var close = await harness.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.Received(overlap, 1000);
        AckAssert.IsAck(close, 200);
        Assert.Equal(file, harness.Store.Published["dir/file.bin"]);
    }

    [Fact]
    public async Task Fragment_Gap_Returns416WithReceivedAndStoresNothing()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(1000);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 100);

        var gap = await harness.FragmentAsync(Path, id, file, 500, 100);
        var resume = await harness.FragmentAsync(Path, id, file, 100, 900);

        AckAssert.IsAck(gap, 416);
        AckAssert.Received(gap, 100);
        Assert.Null(gap.GetHeader(BitsHeaders.ErrorCode));
        AckAssert.Received(resume, 1000);
    }

    [Theory]
    [InlineData("bytes 0-9/10", 11L, "fragment.length-mismatch")]
    [InlineData("bytes 0-9/10", 9L, "fragment.length-mismatch")]
    [InlineData("bytes 9-0/10", 10L, "fragment.range-invalid")]
    [InlineData("bytes 0-10/10", 11L, "fragment.range-invalid")]
    [InlineData("garbage", 10L, "fragment.range-invalid")]
    [InlineData("bytes 0-9/99999999999999999999", 10L, "fragment.range-invalid")]
    [InlineData(null, 10L, "fragment.range-invalid")]
    public async Task Fragment_BadRangeOrLength_Returns400InvalidArg(string? range, long contentLength, string reason)
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        var ack = await harness.SendAsync(new BitsRequest
        {
            Method = "BITS_POST", RawPath = Path, PacketType = "Fragment", SessionId = id,
            ContentRange = range, ContentLength = contentLength, Body = new MemoryStream(new byte[contentLength]),
        });

        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, reason);
        Assert.Equal(id, ack.GetHeader(BitsHeaders.SessionId));
    }

    [Fact]
    public async Task Fragment_TotalChanged_Returns400InvalidArg()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, SeededStream.Bytes(1000), 0, 100);

        var ack = await harness.FragmentAsync(Path, id, SeededStream.Bytes(2000), 100, 100);

        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "fragment.total-mismatch");
    }

    [Fact]
    public async Task Fragment_NonIdentityEncoding_Returns400()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        var request = BitsRequests.Fragment(Path, id, SeededStream.Bytes(10), 0, 10);
        var ack = await harness.SendAsync(new BitsRequest
        {
            Method = request.Method, RawPath = request.RawPath, PacketType = request.PacketType, SessionId = id,
            ContentRange = request.ContentRange, ContentLength = request.ContentLength, Body = request.Body, ContentEncoding = "gzip",
        });

        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "fragment.content-encoding");
    }

    [Fact]
    public async Task Fragment_TotalAboveMaximum_Returns500TooLarge()
    {
        var harness = new HandlerHarness(new BitsServerOptions { MaxUploadBytes = 500 });
        var id = await harness.CreateSessionAsync(Path);

        var ack = await harness.FragmentAsync(Path, id, SeededStream.Bytes(501), 0, 100);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_TOO_LARGE);
    }

    [Fact]
    public async Task Fragment_BodyAboveFragmentLimit_Returns413()
    {
        var harness = new HandlerHarness(new BitsServerOptions { MaxFragmentBytes = 1000 });
        var id = await harness.CreateSessionAsync(Path);

        var ack = await harness.FragmentAsync(Path, id, SeededStream.Bytes(5000), 0, 1001);

        Assert.Equal(413, ack.StatusCode);
        Assert.Equal("Ack", ack.GetHeader(BitsHeaders.PacketType));
    }

    [Theory]
    [InlineData("{00000000-0000-0000-0000-000000000000}")]
    [InlineData("not-a-guid")]
    [InlineData("{7DF0354D-249B-430F-820D-3D2A9BEF4931}")]
    public async Task Fragment_UnknownSession_Returns500SessionNotFound(string id)
    {
        var ack = await new HandlerHarness().FragmentAsync(Path, id, SeededStream.Bytes(10), 0, 10);
        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task Fragment_MissingSessionId_Returns400()
    {
        var ack = await new HandlerHarness().FragmentAsync(Path, "", SeededStream.Bytes(10), 0, 10);
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "session.id-missing");
    }

    [Fact]
    public async Task Fragment_SessionOfAnotherUrl_Returns500SessionNotFound()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);

        var ack = await harness.FragmentAsync("/other.bin", id, SeededStream.Bytes(10), 0, 10);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task Fragment_SessionOfAnotherUser_Returns500SessionNotFound()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path, user: "alice");

        var ack = await harness.FragmentAsync(Path, id, SeededStream.Bytes(10), 0, 10, user: "mallory");

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task Fragment_SessionIdInOtherCase_IsTheSameSession()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);

        var ack = await harness.FragmentAsync(Path, id.ToLowerInvariant(), SeededStream.Bytes(10), 0, 10);

        AckAssert.IsAck(ack, 200);
        Assert.Equal(id.ToLowerInvariant(), ack.GetHeader(BitsHeaders.SessionId));
    }

    [Fact]
    public async Task Fragment_AfterClose_Returns500SessionNotFoundAndLeavesFileAlone()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(100);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 100);
        await harness.SendAsync(BitsRequests.Close(Path, id));

        var late = await harness.FragmentAsync(Path, id, SeededStream.Bytes(100, seed: 7), 0, 100);

        AckAssert.IsError(late, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(file, harness.Store.Published["dir/file.bin"]);
    }

    [Fact]
    public async Task Fragment_BodyShorterThanContentLength_StoresNothing()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        var ack = await harness.SendAsync(new BitsRequest
        {
            Method = "BITS_POST", RawPath = Path, PacketType = "Fragment", SessionId = id,
            ContentRange = "bytes 0-99/1000", ContentLength = 100, Body = new MemoryStream(new byte[60]),
        });
        var next = await harness.FragmentAsync(Path, id, SeededStream.Bytes(1000), 0, 10);

        AckAssert.IsError(ack, 503, BitsHResults.BG_E_HTTP_ERROR_503); // rule 6a.10: transient, the client resends
        AckAssert.Received(next, 10);
    }

    [Fact]
    public async Task Fragment_StalledBody_StoresNothing_AndGivesItsBufferMemoryBack()
    {
        // A client declares a 16 MiB fragment, sends 10 bytes and stalls until the host's minimum data rate cuts it off
        // (Kestrel then fails the read with an IOException). Its buffer is charged against Bits:FragmentMemoryBytes while
        // it waits and must be given back: with a limit of exactly one such buffer, the next 16 MiB fragment gets it at once.
        const int declared = 16 * 1024 * 1024;
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = declared });
        var id = await harness.CreateSessionAsync(Path);
        var body = new StallingBody(bytesBeforeStall: 10);

        var ack = await harness.SendAsync(new BitsRequest
        {
            Method = "BITS_POST", RawPath = Path, PacketType = "Fragment", SessionId = id,
            ContentRange = $"bytes 0-{declared - 1}/{declared}", ContentLength = declared, Body = body,
        });
        var file = SeededStream.Bytes(declared);
        var probe = await harness.FragmentAsync(Path, id, file, 10, 10);
        // Fake time never reaches the 30 s wait for memory: a buffer that was not given back shows as a timeout here.
        var whole = await harness.FragmentAsync(Path, id, file, 0, declared).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        // Rule 6a.10: transient, so Windows retries the range instead of failing the job.
        AckAssert.IsError(ack, 503, BitsHResults.BG_E_HTTP_ERROR_503);
        AckAssert.IsAck(probe, 416);
        AckAssert.Received(probe, 0);
        AckAssert.IsAck(whole, 200);
        AckAssert.Received(whole, declared);
    }

    [Fact]
    public async Task Fragment_BodyArrivingInSmallPieces_IsStoredWhole()
    {
        var harness = new HandlerHarness(new BitsServerOptions { MaxFragmentBytes = 1_000_000 });
        var id = await harness.CreateSessionAsync(Path);
        var file = SeededStream.Bytes(300_000);

        var ack = await harness.SendAsync(new BitsRequest
        {
            Method = "BITS_POST", RawPath = Path, PacketType = "Fragment", SessionId = id,
            ContentRange = "bytes 0-299999/300000", ContentLength = file.Length, Body = new TricklingBody(file, 7_001),
        });
        var close = await harness.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.Received(ack, 300_000);
        AckAssert.IsAck(close, 200);
        Assert.Equal(file, harness.Store.Published[Path.TrimStart('/')]);
    }

    [Theory]
    [InlineData("bytes */0")]
    [InlineData("bytes 0--1/0")]
    [InlineData("bytes 0-0/0")]
    public async Task Fragment_ZeroLengthUpload_CompletesAnEmptyFile(string range)
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync("/empty.bin");
        var ack = await harness.SendAsync(new BitsRequest
        {
            Method = "BITS_POST", RawPath = "/empty.bin", PacketType = "Fragment", SessionId = id, ContentRange = range, ContentLength = 0,
        });
        var close = await harness.SendAsync(BitsRequests.Close("/empty.bin", id));

        AckAssert.IsAck(ack, 200);
        AckAssert.Received(ack, 0);
        AckAssert.IsAck(close, 200);
        Assert.Empty(harness.Store.Published["empty.bin"]);
    }

    [Fact]
    public async Task Fragment_RandomPlanWithRetransmitsOverlapsAndGaps_PublishesIdenticalBytes()
    {
        var harness = new HandlerHarness();
        var random = new Random(1234);
        var file = SeededStream.Bytes(300_000, seed: 99);
        var id = await harness.CreateSessionAsync(Path);
        long next = 0;
        var steps = 0;
        while (next < file.Length && steps++ < 10_000)
        {
            var first = random.Next(10) switch
            {
                0 => Math.Max(0, next - random.Next(1, 5000)), // overlap / retransmit
                1 => Math.Min(file.Length - 1, next + random.Next(1, 5000)), // gap
                _ => next,
            };
            var length = (int)Math.Min(random.Next(1, 20_000), file.Length - first);
            var ack = await harness.FragmentAsync(Path, id, file, first, length);
            Assert.Contains(ack.StatusCode, new[] { 200, 416 });
            next = long.Parse(ack.GetHeader(BitsHeaders.ReceivedContentRange)!, System.Globalization.CultureInfo.InvariantCulture);
        }

        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, id)), 200);
        Assert.Equal(file, harness.Store.Published["dir/file.bin"]);
    }

    /// <summary>Hands out a few bytes, then fails as Kestrel does when the minimum data rate is not met.</summary>
    private sealed class StallingBody(int bytesBeforeStall) : Stream
    {
        private int _sent;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _sent; set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_sent >= bytesBeforeStall)
            {
                throw new IOException("Reading the request body timed out due to data arriving too slowly.");
            }

            var n = Math.Min(buffer.Length, bytesBeforeStall - _sent);
            buffer.Span[..n].Fill(7);
            _sent += n;
            return ValueTask.FromResult(n);
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Returns at most <c>piece</c> bytes per read, as a slow network does.</summary>
    private sealed class TricklingBody(byte[] data, int piece) : MemoryStream(data, writable: false)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, piece)], cancellationToken);
    }

    [Fact]
    public async Task Fragment_ContentName_IsRecordedFromTheFirstFragmentThatCarriesIt()
    {
        // Rule 6a.9: Vista SP1 and later send Content-Name only on Fragments; Create-Session here carries none.
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        var file = SeededStream.Bytes(20);

        BitsRequest Named(long offset, string name) => new()
        {
            Method = "BITS_POST", RawPath = Path, PacketType = "Fragment", SessionId = id, ContentName = name,
            ContentRange = $"bytes {offset}-{offset + 9}/20", ContentLength = 10, Body = new MemoryStream(file, (int)offset, 10),
        };

        var first = await harness.SendAsync(Named(0, "first.pdf"));
        var second = await harness.SendAsync(Named(10, "other.pdf"));

        AckAssert.IsAck(first, 200);
        AckAssert.IsAck(second, 200);
        Assert.True(BitsSessionIds.TryNormalize(id, out var key));
        Assert.Equal("first.pdf", (await harness.Store.GetSessionAsync(key, TestContext.Current.CancellationToken))!.ContentName);
    }
}
