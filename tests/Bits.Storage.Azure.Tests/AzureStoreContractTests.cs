using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Bits.Testing;

namespace Bits.Storage.Azure.Tests;

/// <summary>The shared store contract, on Azurite.</summary>
public sealed class AzureStoreContractTests(AzuriteFixture azurite) : BitsUploadStoreContract, IAsyncLifetime
{
    private StorageHarness? _harness;

    private StorageHarness Harness => _harness!;

    protected override IBitsUploadStore Store => Harness.Store;

    public async ValueTask InitializeAsync() => _harness = await StorageHarness.CreateAsync(azurite);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) => Harness.ReadPublishedAsync(destination);

    protected override Task<int> CountStagedAsync(BitsSession session) => Harness.CountStagedAsync(session);

    protected override Task<bool> ListedAsync(string destination) => Harness.ListedAsync(destination);

    protected override void LowerLimits(BitsBlockBudget budget) => Harness.LowerLimits(budget);

    protected override async Task StageForeignBlocksAsync(string destination, int count)
    {
        var blob = Harness.Uploads.GetBlockBlobClient(destination);
        var owner = AzureBitsUploadStore.SessionKey(BitsSessionIds.NewId());
        for (var i = 0; i < count; i++)
        {
            await blob.StageBlockAsync(AzureBitsUploadStore.BlockId(owner, i, 1), new MemoryStream([0]), cancellationToken: Ct);
        }
    }

    protected override Task ExpireUncommittedAsync(string destination) => Harness.Uploads.DeleteBlobIfExistsAsync(destination, cancellationToken: Ct);

    protected override async Task<bool> SessionRecordExistsAsync(string sessionId) =>
        (await Harness.Sessions.GetEntityIfExistsAsync<global::Azure.Data.Tables.TableEntity>(sessionId, AzureBitsUploadStore.SessionRowKey, cancellationToken: Ct)).HasValue;
}

/// <summary>The reply store contract, on Azurite.</summary>
public sealed class AzureReplyStoreContractTests(AzuriteFixture azurite) : BitsReplyStoreContract, IAsyncLifetime
{
    private StorageHarness? _harness;

    protected override IBitsUploadStore Store => _harness!.Store;

    public async ValueTask InitializeAsync() => _harness = await StorageHarness.CreateAsync(azurite);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) => _harness!.ReadPublishedAsync(destination);

    protected override Task<int> CountStagedAsync(BitsSession session) => _harness!.CountStagedAsync(session);
}

/// <summary>The expiry store contract, on Azurite (session timeout and tombstone lifetime from the contract, its clock).</summary>
public sealed class AzureExpiryStoreContractTests(AzuriteFixture azurite) : BitsExpiryStoreContract, IAsyncLifetime
{
    private StorageHarness? _harness;

    protected override IBitsUploadStore Store => _harness!.Store;

    public async ValueTask InitializeAsync() =>
        _harness = await StorageHarness.CreateAsync(azurite, Time, new BitsServerOptions { SessionTimeout = Timeout, TombstoneLifetime = TombstoneLifetime });

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) => _harness!.ReadPublishedAsync(destination);

    protected override Task<int> CountStagedAsync(BitsSession session) => _harness!.CountStagedAsync(session);
}
