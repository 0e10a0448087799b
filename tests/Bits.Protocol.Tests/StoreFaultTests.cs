using System.Buffers;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bits.Protocol.Tests;

public class StoreFaultTests
{
    [Fact]
    public async Task StoreUnavailable_Returns503AckNeverSessionNotFound()
    {
        var handler = new BitsProtocolHandler(new FailingStore(new BitsStoreUnavailableException("down")), Options.Create(new BitsServerOptions()), TimeProvider.System, NullLogger<BitsProtocolHandler>.Instance);

        var ack = await handler.HandleAsync(BitsRequests.Close("/f.bin", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"), TestContext.Current.CancellationToken);

        AckAssert.IsError(ack, 503, BitsHResults.BG_E_HTTP_ERROR_503);
        AckAssert.Reason(ack, "storage.unavailable");
    }

    [Fact]
    public async Task BlockLimit_Returns503AckWithItsOwnReason()
    {
        var full = new BitsStoreUnavailableException("full") { Reason = BitsErrors.BlockLimit };
        var handler = new BitsProtocolHandler(new FailingStore(full), Options.Create(new BitsServerOptions()), TimeProvider.System, NullLogger<BitsProtocolHandler>.Instance);

        var ack = await handler.HandleAsync(BitsRequests.Close("/f.bin", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"), TestContext.Current.CancellationToken);

        AckAssert.IsError(ack, 503, BitsHResults.BG_E_HTTP_ERROR_503);
        AckAssert.Reason(ack, "storage.block-limit");
    }

    [Fact]
    public async Task UnexpectedFault_Returns500AckWithoutDetails()
    {
        var handler = new BitsProtocolHandler(new FailingStore(new InvalidOperationException("secret stack detail")), Options.Create(new BitsServerOptions()), TimeProvider.System, NullLogger<BitsProtocolHandler>.Instance);

        var ack = await handler.HandleAsync(BitsRequests.CreateSession("/f.bin"), TestContext.Current.CancellationToken);

        AckAssert.IsError(ack, 500, BitsHResults.E_FAIL);
        AckAssert.Reason(ack, "server.internal-error");
        Assert.DoesNotContain(ack.Headers, h => h.Value.Contains("secret", StringComparison.Ordinal));
    }

    private sealed class FailingStore(Exception fault) : IBitsUploadStore
    {
        public Task CreateSessionAsync(BitsSession session, CancellationToken cancellationToken) => throw fault;

        public Task<BitsSession?> GetSessionAsync(string sessionId, CancellationToken cancellationToken) => throw fault;

        public Task<BitsSession?> TrySetTotalLengthAsync(BitsSession session, long totalLength, CancellationToken cancellationToken) => throw fault;

        public Task<BitsSession?> StageAsync(BitsSession session, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken) => throw fault;

        public Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken) => throw fault;

        public Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken) => throw fault;

        public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken) => throw fault;
    }
}
