using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class HappyPathTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(1024)]
    [InlineData(16 * 1024)]
    [InlineData(16 * 1024 + 1)]
    [InlineData(200_001)]
    public async Task UploadAsync_MultiFragment_ReproducesBytesExactly(int length)
    {
        var rig = new TestRig();
        var data = RandomBytes(length, seed: length);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(length, result.Bytes);
        Assert.Equal((length + (16 * 1024) - 1) / (16 * 1024), result.FragmentsSent);
        Assert.Equal(0, result.Retransmits);
        Assert.Equal(0, result.SessionRestarts);
        Assert.Equal(0, result.TransientRetries);
        Assert.Null(result.ReplyUrl);
        Assert.Equal(rig.Server.Published.Keys.Single(), result.SessionId);
    }

    [Fact]
    public async Task UploadAsync_ReportsAcknowledgedOffsetsAsProgress()
    {
        var rig = new TestRig();
        var reported = new List<long>();
        var progress = new SynchronousProgress(reported.Add);

        await rig.UploadAsync(RandomBytes(40 * 1024), progress: progress);

        Assert.Equal([16384L, 32768L, 40960L], reported);
    }

    [Fact]
    public async Task UploadAsync_LargeSource_FragmentsNeverExceedFragmentSize()
    {
        var rig = new TestRig(o => o.InitialFragmentBytes = 64 * 1024);
        var data = RandomBytes(3 * 1024 * 1024 + 17);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(49, result.FragmentsSent);
        Assert.All(rig.Handler.Packets("Fragment"), f => Assert.True(f.Body.Length <= 64 * 1024));
    }

    [Fact]
    public async Task UploadAsync_StreamPositionIsIgnored_WholeStreamIsSent()
    {
        var rig = new TestRig();
        var data = RandomBytes(5000);
        using var stream = new MemoryStream(data);
        stream.Position = 4000;

        await rig.Client.UploadAsync(Url, stream, ct: Ct);

        Assert.Equal(data, rig.Server.SinglePublished);
    }

    [Fact]
    public async Task UploadAsync_NonSeekableSource_Throws()
    {
        var rig = new TestRig();
        await Assert.ThrowsAsync<ArgumentException>(() => rig.Client.UploadAsync(Url, new NonSeekableStream(), ct: Ct));
        Assert.Empty(rig.Handler.Requests);
    }

    [Fact]
    public async Task UploadAsync_SourceShrinksDuringUpload_FailsWithLocalFileChanged()
    {
        var data = RandomBytes(40 * 1024);
        var stream = new MemoryStream();
        stream.Write(data);
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) =>
        {
            if (request.PacketType == "Fragment")
            {
                stream.SetLength(20 * 1024);
            }

            return null;
        };

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.Client.UploadAsync(Url, stream, ct: Ct));

        Assert.Equal("BG_E_LOCAL_FILE_CHANGED", ex.ErrorName);
        Assert.Equal(16 * 1024, ex.BytesAcknowledged);
        Assert.NotNull(ex.SessionId);
    }

    internal sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    private sealed class NonSeekableStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => 0;
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
