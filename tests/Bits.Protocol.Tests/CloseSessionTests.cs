using Bits.Testing;

namespace Bits.Protocol.Tests;

public class CloseSessionTests
{
    private const string Path = "/up/file.bin";

    private static async Task<(HandlerHarness Harness, string Id, byte[] File)> CompletedSessionAsync(BitsServerOptions? options = null)
    {
        var harness = new HandlerHarness(options);
        var file = SeededStream.Bytes(5000);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 5000);
        return (harness, id, file);
    }

    [Fact]
    public async Task Close_CompleteUpload_PublishesAndAcks()
    {
        var (harness, id, file) = await CompletedSessionAsync();

        var ack = await harness.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.IsAck(ack, 200);
        Assert.Equal(id, ack.GetHeader(BitsHeaders.SessionId));
        Assert.Equal(file, harness.Store.Published["up/file.bin"]);
        Assert.Equal(0, harness.Store.StagedSessionCount);
    }

    [Fact]
    public async Task Close_Repeated_Returns200FromTombstone()
    {
        var (harness, id, _) = await CompletedSessionAsync();
        await harness.SendAsync(BitsRequests.Close(Path, id));

        var again = await harness.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.IsAck(again, 200);
        Assert.Null(again.GetHeader(BitsHeaders.ErrorCode));
    }

    [Fact]
    public async Task Close_IncompleteUpload_DiscardsAndPublishesNothing()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(5000);
        var id = await harness.CreateSessionAsync(Path);
        await harness.FragmentAsync(Path, id, file, 0, 1000);

        var ack = await harness.SendAsync(BitsRequests.Close(Path, id));
        var late = await harness.FragmentAsync(Path, id, file, 1000, 4000);

        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "close.incomplete");
        Assert.False(harness.Store.Published.ContainsKey("up/file.bin"));
        Assert.Equal(0, harness.Store.StagedSessionCount);
        AckAssert.IsError(late, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Close_DestinationWrittenMeanwhile_DiscardedTheStagedBlocks_Returns500SessionNotFound_AndKeepsTheFile(bool allowOverwrites)
    {
        // Another writer's commit (or Put Blob) deletes every uncommitted block on the blob: this session's staged
        // bytes are gone, so the client must start again (it then meets 403 at Create-Session without overwrites).
        var (harness, id, _) = await CompletedSessionAsync(new BitsServerOptions { AllowOverwrites = allowOverwrites });
        harness.Store.Seed("up/file.bin", [9, 9, 9]);

        var ack = await harness.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal([9, 9, 9], harness.Store.Published["up/file.bin"]);
        Assert.Equal(0, harness.Store.StagedSessionCount);
        AckAssert.IsError(await harness.SendAsync(BitsRequests.Close(Path, id)), 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task Close_UnknownSession_Returns500SessionNotFound()
    {
        var ack = await new HandlerHarness().SendAsync(BitsRequests.Close(Path, "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"));
        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal("{6F9619FF-8B86-D011-B42D-00C04FC964FF}", ack.GetHeader(BitsHeaders.SessionId));
    }

    [Fact]
    public async Task Close_AfterCancel_Returns500SessionNotFound()
    {
        var (harness, id, _) = await CompletedSessionAsync();
        await harness.SendAsync(BitsRequests.Cancel(Path, id));

        var ack = await harness.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.False(harness.Store.Published.ContainsKey("up/file.bin"));
    }
}
