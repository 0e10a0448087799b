using Bits.Testing;

namespace Bits.Protocol.Tests;

public class CreateSessionTests
{
    [Theory]
    [InlineData("{7df0354d-249b-430f-820d-3d2a9bef4931}")]
    [InlineData("{7DF0354D-249B-430F-820D-3D2A9BEF4931}")]
    [InlineData("{00000000-0000-0000-0000-000000000001} {7df0354d-249b-430f-820d-3d2a9bef4931}")]
    [InlineData("{00000000-0000-0000-0000-000000000001},{7df0354d-249b-430f-820d-3d2a9bef4931}")]
    [InlineData("{00000000-0000-0000-0000-000000000001}, {7df0354d-249b-430f-820d-3d2a9bef4931}")]
    public async Task CreateSession_OffersUploadProtocol_ReturnsSessionAndProtocol(string protocols)
    {
        var ack = await new HandlerHarness().SendAsync(BitsRequests.CreateSession("/dir/file.bin", protocols));

        AckAssert.IsAck(ack, 200);
        Assert.Equal(BitsHeaders.UploadProtocolGuid, ack.GetHeader(BitsHeaders.Protocol));
        Assert.Equal("identity", ack.GetHeader(BitsHeaders.AcceptEncoding));
        Assert.Null(ack.GetHeader(BitsHeaders.ErrorCode));
        var id = ack.GetHeader(BitsHeaders.SessionId)!;
        Assert.Matches("^\\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\\}$", id);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("{00000000-0000-0000-0000-000000000001}")]
    [InlineData("7df0354d-249b-430f-820d-3d2a9bef4931x")]
    public async Task CreateSession_NoCommonProtocol_Returns400InvalidArg(string? protocols)
    {
        var ack = await new HandlerHarness().SendAsync(BitsRequests.CreateSession("/file.bin", protocols));
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "create.protocol-not-offered");
    }

    [Fact]
    public async Task CreateSession_MoreThan100Protocols_Returns400()
    {
        var list = string.Join(' ', Enumerable.Repeat("{00000000-0000-0000-0000-000000000001}", 101)) + " " + BitsHeaders.UploadProtocolGuid;
        var ack = await new HandlerHarness().SendAsync(BitsRequests.CreateSession("/file.bin", list));
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "create.protocol-not-offered");
    }

    [Fact]
    public async Task CreateSession_IdsAreUnique()
    {
        var harness = new HandlerHarness();
        var ids = new HashSet<string>();
        for (var i = 0; i < 200; i++)
        {
            Assert.True(ids.Add(await harness.CreateSessionAsync("/file.bin")));
        }
    }

    [Theory]
    [InlineData("/")]
    [InlineData("")]
    [InlineData("/dir/")]
    [InlineData("/../x.bin")]
    [InlineData("/a/%2e%2e/x.bin")]
    [InlineData("/a/%2E%2E%2Fx.bin")]
    [InlineData("/a/..%2fx.bin")]
    [InlineData("/a%5cx.bin")]
    [InlineData("/a\\x.bin")]
    [InlineData("/a/%00x.bin")]
    [InlineData("/a/%0Ax.bin")]
    [InlineData("/a//x.bin")]
    [InlineData("/a/./x.bin")]
    [InlineData("/a/x.bin%")]
    [InlineData("/a/x%zz.bin")]
    [InlineData("/a/%C3%28.bin")]
    public async Task CreateSession_UnsafeOrInvalidName_Returns400BeforeAnyStorageCall(string path)
    {
        var harness = new HandlerHarness();
        var ack = await harness.SendAsync(BitsRequests.CreateSession(path));

        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "request.invalid-path");
        Assert.Equal(0, harness.Store.StagedSessionCount);
    }

    [Fact]
    public async Task CreateSession_NameLongerThanAzureAllows_Returns400()
    {
        var path = "/" + string.Join('/', Enumerable.Repeat(new string('a', 200), 6));
        var ack = await new HandlerHarness().SendAsync(BitsRequests.CreateSession(path));
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "request.invalid-path");
    }

    [Fact]
    public async Task CreateSession_ExistingDestinationWithoutOverwrite_Returns403AccessDenied()
    {
        var harness = new HandlerHarness();
        harness.Store.Seed("taken.bin", [1, 2, 3]);

        var ack = await harness.SendAsync(BitsRequests.CreateSession("/taken.bin"));

        AckAssert.IsError(ack, 403, BitsHResults.E_ACCESSDENIED);
    }

    [Fact]
    public async Task CreateSession_ExistingDestinationWithOverwrite_Succeeds()
    {
        var harness = new HandlerHarness(new BitsServerOptions { AllowOverwrites = true });
        harness.Store.Seed("taken.bin", [1, 2, 3]);

        var ack = await harness.SendAsync(BitsRequests.CreateSession("/taken.bin"));

        AckAssert.IsAck(ack, 200);
    }
}
