using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class ZeroLengthTests
{
    [Fact]
    public async Task UploadAsync_ZeroLength_SendsOneEmptyFragmentWithStarRange()
    {
        var rig = new TestRig();

        var result = await rig.UploadAsync([]);

        Assert.Empty(rig.Server.SinglePublished);
        var fragment = Assert.Single(rig.Handler.Packets("Fragment"));
        Assert.Equal("bytes */0", fragment.ContentRange);
        Assert.Equal("0", fragment.Header("Content-Length"));
        Assert.Empty(fragment.Body);
        Assert.Equal(["Ping", "Create-Session", "Fragment", "Close-Session"], rig.Handler.Requests.Select(r => r.PacketType));
        Assert.Equal(0, result.Bytes);
        Assert.Equal(1, result.FragmentsSent);
    }

    [Fact]
    public async Task SendFragmentAsync_EmptyDataAndZeroTotal_SendsStarRange()
    {
        var rig = new TestRig();
        var session = (await rig.Client.CreateSessionAsync(Url, ct: Ct)).SessionId!;

        var ack = await rig.Client.SendFragmentAsync(Url, session, ReadOnlyMemory<byte>.Empty, 0, 0, ct: Ct);

        Assert.Equal(200, ack.StatusCode);
        Assert.Equal(0, ack.ReceivedContentRange);
        Assert.Equal("bytes */0", rig.Handler.Requests[^1].ContentRange);
    }

    [Fact]
    public async Task UploadAsync_ZeroLengthRejected_IsFatal()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Fragment" ? Acks.Error(400, "0x80070057") : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync([]));

        Assert.Equal("E_INVALIDARG", ex.ErrorName);
        Assert.Contains("bytes */0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadAsync_ZeroLength_SessionNotFound_Restarts()
    {
        var rig = new TestRig();
        var first = true;
        rig.Server.Intercept = (request, _) =>
        {
            if (first && request.PacketType == "Fragment")
            {
                first = false;
                return Acks.Error(500, "0x8020001F");
            }

            return null;
        };

        var result = await rig.UploadAsync([]);

        Assert.Equal(1, result.SessionRestarts);
        Assert.Empty(rig.Server.SinglePublished);
    }
}
