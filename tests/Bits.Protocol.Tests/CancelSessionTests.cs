using Bits.Testing;

namespace Bits.Protocol.Tests;

public class CancelSessionTests
{
    private const string Path = "/c/file.bin";

    [Fact]
    public async Task Cancel_OpenSession_DeletesStagedDataAndAcks()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, SeededStream.Bytes(100), 0, 50);

        var ack = await harness.SendAsync(BitsRequests.Cancel(Path, id));

        AckAssert.IsAck(ack, 200);
        Assert.Equal(id, ack.GetHeader(BitsHeaders.SessionId));
        Assert.Equal(0, harness.Store.StagedSessionCount);
        Assert.Empty(harness.Store.Published);
    }

    [Fact]
    public async Task Cancel_Repeated_Returns200()
    {
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);
        await harness.SendAsync(BitsRequests.Cancel(Path, id));

        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Cancel(Path, id)), 200);
    }

    [Fact]
    public async Task Cancel_AfterClose_Returns200AndKeepsPublishedFile()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(100);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 100);
        await harness.SendAsync(BitsRequests.Close(Path, id));

        var ack = await harness.SendAsync(BitsRequests.Cancel(Path, id));

        AckAssert.IsAck(ack, 200);
        Assert.Equal(file, harness.Store.Published["c/file.bin"]);
    }

    [Fact]
    public async Task Cancel_UnknownSession_Returns500SessionNotFound()
    {
        var ack = await new HandlerHarness().SendAsync(BitsRequests.Cancel(Path, "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"));
        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task Cancel_WithoutSessionId_Returns400()
    {
        var ack = await new HandlerHarness().SendAsync(BitsRequests.Cancel(Path, ""));
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "session.id-missing");
    }
}
