using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Protocol.Tests;

/// <summary>The protocol handler over the in-memory store, with a fake clock.</summary>
internal sealed class HandlerHarness
{
    public HandlerHarness(BitsServerOptions? options = null, BitsMetrics? metrics = null)
    {
        Options = options ?? new BitsServerOptions();
        Store = new InMemoryBitsUploadStore(Time);
        Handler = new BitsProtocolHandler(Store, Microsoft.Extensions.Options.Options.Create(Options), Time, NullLogger<BitsProtocolHandler>.Instance, metrics: metrics);
    }

    public InMemoryBitsUploadStore Store { get; }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));

    public BitsServerOptions Options { get; }

    public BitsProtocolHandler Handler { get; }

    public Task<BitsResponse> SendAsync(BitsRequest request) => Handler.HandleAsync(request, TestContext.Current.CancellationToken);

    public async Task<string> CreateSessionAsync(string path, string? user = null)
    {
        var ack = await SendAsync(BitsRequests.CreateSession(path, user: user));
        Assert.Equal(200, ack.StatusCode);
        return ack.GetHeader(BitsHeaders.SessionId)!;
    }

    public Task<BitsResponse> FragmentAsync(string path, string id, byte[] file, long first, int length, string? user = null) =>
        SendAsync(BitsRequests.Fragment(path, id, file, first, length, user));
}

internal static class AckAssert
{
    public static void IsAck(BitsResponse response, int status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("Ack", response.GetHeader(BitsHeaders.PacketType));
    }

    public static void IsError(BitsResponse response, int status, uint hresult, string context = "0x5")
    {
        IsAck(response, status);
        Assert.Equal(BitsHResults.Format(hresult), response.GetHeader(BitsHeaders.ErrorCode));
        Assert.Equal(BitsHResults.Format(hresult), response.GetHeader(BitsHeaders.Error)); // rule 6a.12
        Assert.Equal(context, response.GetHeader(BitsHeaders.ErrorContext));
        Assert.Null(response.GetHeader(BitsHeaders.Protocol));
    }

    /// <summary>The reason the error Ack was sent for (its catalogue code): errors sharing wire values stay apart.</summary>
    public static void Reason(BitsResponse response, string code) => Assert.Equal(code, response.Error?.Code);

    public static void Received(BitsResponse response, long received) =>
        Assert.Equal(received.ToString(System.Globalization.CultureInfo.InvariantCulture), response.GetHeader(BitsHeaders.ReceivedContentRange));
}
