using Bits.Testing;

namespace Bits.Protocol.Tests;

public sealed class InMemoryStoreContractTests : BitsUploadStoreContract
{
    private InMemoryBitsUploadStore _store = new();

    protected override IBitsUploadStore Store => _store;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) =>
        Task.FromResult(_store.Published.TryGetValue(destination, out var bytes) ? bytes : null);

    protected override Task<int> CountStagedAsync(BitsSession session) => Task.FromResult(_store.StagedItems(session));

    protected override Task<bool> ListedAsync(string destination) => Task.FromResult(_store.ListedBlobs.Contains(destination));

    protected override Task<bool> SessionRecordExistsAsync(string sessionId) => Task.FromResult(_store.HasLiveRecord(sessionId));

    protected override void LowerLimits(BitsBlockBudget budget) => _store = new InMemoryBitsUploadStore(budget: budget);

    protected override Task StageForeignBlocksAsync(string destination, int count)
    {
        _store.StageForeignBlocks(destination, count);
        return Task.CompletedTask;
    }

    protected override Task ExpireUncommittedAsync(string destination)
    {
        _store.ExpireUncommitted(destination);
        return Task.CompletedTask;
    }
}

public sealed class InMemoryReplyStoreContractTests : BitsReplyStoreContract
{
    private readonly InMemoryBitsUploadStore _store = new();

    protected override IBitsUploadStore Store => _store;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) =>
        Task.FromResult(_store.Published.TryGetValue(destination, out var bytes) ? bytes : null);

    protected override Task<int> CountStagedAsync(BitsSession session) => Task.FromResult(_store.StagedItems(session));
}

public sealed class InMemoryExpiryStoreContractTests : BitsExpiryStoreContract
{
    private readonly InMemoryBitsUploadStore _store;

    public InMemoryExpiryStoreContractTests() => _store = new InMemoryBitsUploadStore(Time, TombstoneLifetime);

    protected override IBitsUploadStore Store => _store;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) =>
        Task.FromResult(_store.Published.TryGetValue(destination, out var bytes) ? bytes : null);

    protected override Task<int> CountStagedAsync(BitsSession session) => Task.FromResult(_store.StagedItems(session));
}
