using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class CancellationTests
{
    [Fact]
    public async Task UploadAsync_CallerCancels_ThrowsOperationCanceled_AndSendsNoCancelSession()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) =>
        {
            if (request.ContentRange?.StartsWith("bytes 16384-", StringComparison.Ordinal) == true)
            {
                cts.Cancel();
                throw new TaskCanceledException("cancelled", null, cts.Token);
            }

            return null;
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => rig.Client.UploadAsync(Url, new MemoryStream(RandomBytes(40_000)), ct: cts.Token));

        Assert.Empty(rig.Handler.Packets("Cancel-Session"));
        Assert.Empty(rig.Handler.Packets("Close-Session"));
        Assert.Equal(2, rig.Handler.Packets("Fragment").Count());
    }

    [Fact]
    public async Task UploadAsync_CancelledDuringRetryDelay_Stops()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var rig = new TestRig(o => o.RetryDelay = TimeSpan.FromHours(1));
        rig.Server.Intercept = (request, _) =>
        {
            if (request.PacketType == "Fragment")
            {
                cts.Cancel();
                return Acks.Ack(503);
            }

            return null;
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => rig.Client.UploadAsync(Url, new MemoryStream(RandomBytes(100)), ct: cts.Token));

        Assert.Single(rig.Handler.Packets("Fragment"));
    }
}
