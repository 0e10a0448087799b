using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

/// <summary><see cref="BitsClientOptions.SessionCreated"/>, <see cref="BitsClientOptions.BeforeClose"/> and the failure classification the CLI relies on.</summary>
public class HookTests
{
    [Fact]
    public async Task SessionCreated_IsCalledBeforeTheFirstFragment_AndAgainAfterARestart()
    {
        var rig = new TestRig();
        var created = new List<(string Id, int RequestsSoFar)>();
        rig.Options.SessionCreated = (id, _) =>
        {
            created.Add((id, rig.Handler.Requests.Count));
            return Task.CompletedTask;
        };
        var expired = false;
        rig.Server.Intercept = (request, _) =>
        {
            if (!expired && request.PacketType == "Fragment" && request.ContentRange!.StartsWith("bytes 16384-", StringComparison.Ordinal))
            {
                expired = true;
                rig.Server.ExpireSession(request.SessionId!);
            }

            return null;
        };
        var data = RandomBytes(40_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(2, created.Count);
        Assert.Equal(2, created[0].RequestsSoFar); // Ping, Create-Session
        Assert.Equal(result.SessionId, created[1].Id);
        Assert.NotEqual(created[0].Id, created[1].Id);
        Assert.Equal(data, rig.Server.SinglePublished);
    }

    [Fact]
    public async Task SessionCreated_NotCalledWhenResumingAKnownSession()
    {
        var rig = new TestRig();
        var data = RandomBytes(30_000);
        var session = rig.Server.SeedSession(data[..10_000], data.Length);
        var calls = 0;
        rig.Options.SessionCreated = (_, _) =>
        {
            calls++;
            return Task.CompletedTask;
        };

        await rig.Client.ResumeAsync(Url, session, new MemoryStream(data), ct: Ct);

        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task BeforeClose_GetsTheReplyUrl_BeforeCloseSessionIsSent()
    {
        var rig = new TestRig();
        rig.Server.ReplyUrl = "https://bits.example.test/upload/report.bin?bits-reply=1";
        BitsBeforeCloseContext? seen = null;
        var closesSeen = -1;
        rig.Options.BeforeClose = (context, _) =>
        {
            seen = context;
            closesSeen = rig.Handler.Packets("Close-Session").Count();
            return Task.CompletedTask;
        };

        var result = await rig.UploadAsync(RandomBytes(20_000));

        Assert.NotNull(seen);
        Assert.Equal(0, closesSeen);
        Assert.Equal(Url, seen.Url);
        Assert.Equal(result.SessionId, seen.SessionId);
        Assert.Equal(20_000, seen.Bytes);
        Assert.Equal(rig.Server.ReplyUrl, seen.ReplyUrl);
        Assert.Equal("Close-Session", rig.Handler.Requests[^1].PacketType);
    }

    [Fact]
    public async Task BeforeCloseThrows_NoCloseIsSent_AndAResumeCallsItAgainWithTheReplyUrl()
    {
        var rig = new TestRig();
        rig.Server.ReplyUrl = "https://bits.example.test/replies/r7";
        var data = RandomBytes(20_000);
        string? sessionId = null;
        rig.Options.SessionCreated = (id, _) =>
        {
            sessionId = id;
            return Task.CompletedTask;
        };
        rig.Options.BeforeClose = (_, _) => throw new IOException("disk full");

        await Assert.ThrowsAsync<IOException>(() => rig.UploadAsync(data));
        Assert.Empty(rig.Handler.Packets("Close-Session"));
        Assert.Empty(rig.Server.Published);

        string? replyOnResume = null;
        rig.Options.BeforeClose = (context, _) =>
        {
            replyOnResume = context.ReplyUrl;
            return Task.CompletedTask;
        };
        var result = await rig.Client.ResumeAsync(Url, sessionId!, new MemoryStream(data), ct: Ct);

        Assert.Equal(sessionId, result.SessionId);
        Assert.Equal("https://bits.example.test/replies/r7", replyOnResume);
        Assert.Equal(data, rig.Server.Published[sessionId!]);
    }

    [Fact]
    public async Task RetriesExhausted_TrueForTransientFailures_FalseForRefusals()
    {
        var transient = new TestRig(o => o.MaxTransientRetries = 1);
        transient.Server.Intercept = (request, _) => request.PacketType == "Fragment" ? Acks.Error(503, "0x80004005") : null;
        var exhausted = await Assert.ThrowsAsync<BitsUploadException>(() => transient.UploadAsync(RandomBytes(100)));
        Assert.True(exhausted.RetriesExhausted);

        var network = new TestRig(o => o.MaxTransientRetries = 1);
        network.Server.Intercept = (request, _) => request.PacketType == "Create-Session" ? throw new HttpRequestException("refused") : null;
        var unreachable = await Assert.ThrowsAsync<BitsUploadException>(() => network.UploadAsync(RandomBytes(100)));
        Assert.True(unreachable.RetriesExhausted);

        var refused = new TestRig();
        refused.Server.Intercept = (request, _) => request.PacketType == "Create-Session" ? Acks.Error(403, "0x80070005") : null;
        var denied = await Assert.ThrowsAsync<BitsUploadException>(() => refused.UploadAsync(RandomBytes(100)));
        Assert.False(denied.RetriesExhausted);
        Assert.Equal("E_ACCESSDENIED", denied.ErrorName);
    }

    [Theory]
    [InlineData(200, null, false)]
    [InlineData(403, "0x80070005", false)]
    [InlineData(404, null, false)]
    [InlineData(408, null, true)]
    [InlineData(409, "0x80190199", true)]
    [InlineData(500, "0x80004005", true)]
    [InlineData(500, "0x8020001F", false)]
    [InlineData(500, "0x80200020", false)]
    [InlineData(501, "0x80070005", false)]
    [InlineData(503, null, true)]
    public void IsTransientFailure_FollowsTheWindowsClassification(int status, string? errorCode, bool expected)
    {
        var headers = new List<KeyValuePair<string, string>> { new("BITS-Packet-Type", "Ack") };
        if (errorCode is not null)
        {
            headers.Add(new("BITS-Error-Code", errorCode));
        }

        Assert.Equal(expected, new BitsAck(status, headers).IsTransientFailure);
    }
}
