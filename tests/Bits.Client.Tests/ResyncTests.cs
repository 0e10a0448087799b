using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class ResyncTests
{
    [Fact]
    public async Task UploadAsync_416_ResyncsToReceivedContentRange()
    {
        // The server lost the second fragment's bytes (e.g. a torn body): its Ack to the third says 416 with R.
        var data = RandomBytes(48 * 1024);
        var rig = new TestRig();
        var dropped = false;
        rig.Server.Intercept = (request, _) =>
        {
            if (!dropped && request.ContentRange == "bytes 16384-32767/49152")
            {
                dropped = true;
                return Acks.Received(32768); // claims success but the model never stored it
            }

            return null;
        };

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(
            ["bytes 0-16383/49152", "bytes 16384-32767/49152", "bytes 32768-49151/49152", "bytes 16384-32767/49152", "bytes 32768-49151/49152"],
            rig.Handler.Packets("Fragment").Select(f => f.ContentRange));
        Assert.Equal(1, result.Retransmits); // the 416
        Assert.Equal(5, result.FragmentsSent);
    }

    [Fact]
    public async Task UploadAsync_200WithSmallerOffset_ResendsFromThatOffset()
    {
        var data = RandomBytes(32 * 1024);
        var scripted = TestRig.Scripted((request, _) => request.PacketType switch
        {
            "Ping" => Acks.Ack(),
            "Create-Session" => Acks.Created(),
            "Fragment" when request.ContentRange == "bytes 0-16383/32768" => Acks.Received(1000),
            "Fragment" when request.ContentRange == "bytes 1000-17383/32768" => Acks.Received(17384),
            "Fragment" when request.ContentRange == "bytes 17384-32767/32768" => Acks.Received(32768),
            "Close-Session" => Acks.Ack(),
            _ => Acks.Error(400, "0x80070057"),
        }, o => o.InitialFragmentBytes = 16 * 1024);

        var result = await scripted.Client.UploadAsync(Url, new MemoryStream(data), ct: Ct);

        var fragments = scripted.Handler.Packets("Fragment").ToList();
        Assert.Equal(3, fragments.Count);
        Assert.Equal(data[1000..17384], fragments[1].Body);
        Assert.Equal(data[17384..], fragments[2].Body);
        Assert.Equal(1, result.Retransmits);
    }

    [Fact]
    public async Task UploadAsync_StrictMcBupServer_StillCompletes()
    {
        var data = RandomBytes(50_000);
        var rig = new TestRig();
        rig.Server.StrictMcBup = true;
        rig.Options.FragmentPlanner = r => r.FragmentIndex == 1 ? new FragmentPlan(r.NextOffset - 100, r.SuggestedLength) : new FragmentPlan(r.NextOffset, r.SuggestedLength);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(1, result.Retransmits);
    }

    [Fact]
    public async Task UploadAsync_AckWithoutReceivedContentRange_IsInvalidServerResponse()
    {
        var (client, _) = TestRig.Scripted((request, _) => request.PacketType switch
        {
            "Fragment" => Acks.Ack(),
            "Create-Session" => Acks.Created(),
            _ => Acks.Ack(),
        });

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => client.UploadAsync(Url, new MemoryStream(new byte[10]), ct: Ct));

        Assert.Equal(BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE, ex.ErrorCode);
        Assert.Equal("BG_E_INVALID_SERVER_RESPONSE", ex.ErrorName);
        Assert.Contains("BITS-Received-Content-Range", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadAsync_ReceivedBeyondTotal_IsInvalidServerResponse()
    {
        var (client, _) = TestRig.Scripted((request, _) => request.PacketType switch
        {
            "Fragment" => Acks.Received(11),
            "Create-Session" => Acks.Created(),
            _ => Acks.Ack(),
        });

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => client.UploadAsync(Url, new MemoryStream(new byte[10]), ct: Ct));

        Assert.Equal(BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE, ex.ErrorCode);
    }

    [Fact]
    public async Task UploadAsync_ServerNeverAdvances_FailsWithNoProgress()
    {
        var (client, handler) = TestRig.Scripted(
            (request, _) => request.PacketType switch
            {
                "Fragment" => Acks.Received(0, 416),
                "Create-Session" => Acks.Created(),
                _ => Acks.Ack(),
            },
            o => o.MaxFragmentsWithoutProgress = 4);

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => client.UploadAsync(Url, new MemoryStream(new byte[10]), ct: Ct));

        Assert.Equal("BG_E_NO_PROGRESS", ex.ErrorName);
        Assert.Equal(5, handler.Packets("Fragment").Count());
    }
}
