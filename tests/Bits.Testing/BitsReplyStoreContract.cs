using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// The behaviour every <see cref="IBitsReplyStore"/> must show for the sessions of an upload-reply area (their own
/// staging): the back-end reads the upload, the reply is kept and served whole or by range, the notification is kept
/// with the session, <c>BITS-Copy-File-To-Destination</c> publishes the upload, and the end of a session removes both.
/// </summary>
public abstract class BitsReplyStoreContract : BitsStoreContract
{
    private IBitsReplyStore Replies => Assert.IsAssignableFrom<IBitsReplyStore>(Store);

    /// <summary>An upload-reply session with all of <paramref name="data"/> staged.</summary>
    private async Task<BitsSession> UploadedAsync(byte[] data, string? destination = null)
    {
        var session = await NewSessionAsync(destination, total: data.Length, privateStaging: true);
        return await StageAllAsync(session, data, 1000);
    }

    private static async Task<byte[]> ReadAllAsync(Stream? stream)
    {
        Assert.NotNull(stream);
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, Ct);
            return copy.ToArray();
        }
    }

    private async Task<byte[]> WriteReplyAsync(BitsSession session, int length, int seed)
    {
        var reply = SeededStream.Bytes(length, seed);
        await Replies.WriteReplyAsync(session, new MemoryStream(reply, writable: false), Ct);
        return reply;
    }

    [Fact]
    public async Task OpenUpload_OfACompleteSession_StreamsTheUploadedBytes()
    {
        var data = SeededStream.Bytes(4500, 80);
        var session = await UploadedAsync(data);

        Assert.Equal(data, await ReadAllAsync(await Replies.OpenUploadAsync(session, Ct)));
    }

    [Fact]
    public async Task Reply_IsServedWhole_ByRange_AndAsHeadersOnly()
    {
        var session = await UploadedAsync(SeededStream.Bytes(2000, 81));
        var reply = await WriteReplyAsync(session, 5000, 82);

        var whole = await Replies.OpenReplyAsync(session, 0, null, headOnly: false, Ct);
        var range = await Replies.OpenReplyAsync(session, 100, 199, headOnly: false, Ct);
        var tail = await Replies.OpenReplyAsync(session, 4900, null, headOnly: false, Ct);
        var head = await Replies.OpenReplyAsync(session, 0, null, headOnly: true, Ct);

        Assert.Equal(reply, await ReadAllAsync(whole.Content));
        Assert.Equal(reply[100..200], await ReadAllAsync(range.Content));
        Assert.Equal(reply[4900..], await ReadAllAsync(tail.Content));
        Assert.All([whole, range, tail, head], content => Assert.Equal(5000L, content.TotalLength));
        Assert.Null(head.Content);
    }

    [Fact]
    public async Task Reply_WrittenAgain_ReplacesTheEarlierOne()
    {
        var session = await UploadedAsync(SeededStream.Bytes(1000, 83));
        await WriteReplyAsync(session, 3000, 84);
        var second = await WriteReplyAsync(session, 1200, 85);

        var reply = await Replies.OpenReplyAsync(session, 0, null, headOnly: false, Ct);

        Assert.Equal(1200L, reply.TotalLength);
        Assert.Equal(second, await ReadAllAsync(reply.Content));
    }

    [Fact]
    public async Task Reply_NeverWritten_IsEmpty()
    {
        var session = await UploadedAsync(SeededStream.Bytes(1000, 86));

        var reply = await Replies.OpenReplyAsync(session, 0, null, headOnly: false, Ct);
        var head = await Replies.OpenReplyAsync(session, 0, null, headOnly: true, Ct);

        Assert.Equal(0L, reply.TotalLength);
        Assert.Empty(await ReadAllAsync(reply.Content));
        Assert.Equal(0L, head.TotalLength);
        Assert.Null(head.Content);
    }

    [Fact]
    public async Task RecordNotification_IsKeptWithTheSession()
    {
        var session = await UploadedAsync(SeededStream.Bytes(1000, 87));
        var outcome = new BitsNotificationOutcome("https://backend.example/replies/1", CopyToDestination: false);

        var recorded = await Replies.RecordNotificationAsync(session, outcome, Ct);
        var reread = await Store.GetSessionAsync(session.Id, Ct);

        Assert.Equal(outcome, recorded.Notification);
        Assert.Equal(outcome, reread?.Notification);
        Assert.Equal(1000, reread?.ReceivedLength);
    }

    [Fact]
    public async Task CopyToDestination_ThenPublish_PublishesTheUpload()
    {
        var data = SeededStream.Bytes(7000, 88);
        var destination = NewDestination();
        var session = await UploadedAsync(data, destination);
        session = await Replies.RecordNotificationAsync(session, new BitsNotificationOutcome(null, CopyToDestination: true), Ct);

        var copied = await Replies.CopyToDestinationAsync(session, CancellationToken.None, Ct);
        var before = await ReadPublishedAsync(destination);
        var result = await Store.PublishAsync(session, allowOverwrite: false, Ct);

        Assert.True(copied);
        Assert.Null(before); // nothing is visible before the publish
        Assert.Equal(PublishResult.Published, result);
        Assert.Equal(data, await ReadPublishedAsync(destination));
    }

    [Fact]
    public async Task Discard_RemovesTheUploadAndTheReply()
    {
        var session = await UploadedAsync(SeededStream.Bytes(3000, 89));
        await WriteReplyAsync(session, 2000, 90);

        await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        Assert.Equal(0, await CountStagedAsync(session));
        await Assert.ThrowsAsync<BitsSessionGoneException>(() => Replies.OpenUploadAsync(session, Ct));
        Assert.Equal(0, (await Replies.OpenReplyAsync(session, 0, null, headOnly: true, Ct)).TotalLength);
    }
}
