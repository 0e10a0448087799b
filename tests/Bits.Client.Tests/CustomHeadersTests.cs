using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class CustomHeadersTests
{
    [Fact]
    public async Task UploadAsync_CustomHeaders_SentOnAllRequests()
    {
        var rig = new TestRig(o =>
        {
            o.CustomHeaders["x-functions-key"] = "secret-key";
            o.CustomHeaders["X-Trace"] = "abc";
        });
        await rig.UploadAsync(RandomBytes(40_000));
        var session = rig.Server.Published.Keys.Single();
        await rig.Client.PingAsync(Url, Ct);
        await rig.Client.CreateSessionAsync(Url, ct: Ct);
        await rig.Client.CancelSessionAsync(Url, session, Ct);
        await rig.Client.CloseSessionAsync(Url, session, Ct);

        Assert.Equal(10, rig.Handler.Requests.Count);
        Assert.All(rig.Handler.Requests, r =>
        {
            Assert.Equal("secret-key", r.Header("x-functions-key"));
            Assert.Equal("abc", r.Header("x-trace"));
        });
    }

    [Fact]
    public async Task CustomHeaders_CanOverrideUserAgent_AndIgnoreContentLength()
    {
        var rig = new TestRig(o =>
        {
            o.CustomHeaders["User-Agent"] = "Microsoft BITS/7.8";
            o.CustomHeaders["Content-Length"] = "999";
            o.CustomHeaders["Content-Language"] = "en";
        });

        var data = RandomBytes(1000);
        await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.All(rig.Handler.Requests, r =>
        {
            Assert.Equal("Microsoft BITS/7.8", r.Header("User-Agent"));
            Assert.Equal("en", r.Header("Content-Language"));
            Assert.Equal(r.Body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Header("Content-Length"));
        });
    }
}
