using Bits.Testing;

namespace Bits.Protocol.Tests;

public sealed class InMemoryStoreContractTests : BitsUploadStoreContract
{
    private readonly InMemoryBitsUploadStore _store = new();

    protected override IBitsUploadStore Store => _store;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) =>
        Task.FromResult(_store.Published.TryGetValue(destination, out var bytes) ? bytes : null);

    protected override async Task<int> CountStagedAsync(string sessionId)
    {
        var session = await _store.GetSessionAsync(sessionId, Ct);
        return session?.State == BitsSessionState.Open ? 1 : 0;
    }

    protected override async Task<bool> SessionRecordExistsAsync(string sessionId) =>
        (await _store.GetSessionAsync(sessionId, Ct))?.State == BitsSessionState.Open;
}
