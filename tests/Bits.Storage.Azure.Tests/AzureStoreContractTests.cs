using Bits.Protocol;
using Bits.Testing;

namespace Bits.Storage.Azure.Tests;

/// <summary>The shared store contract, on Azurite, with the default segment size.</summary>
public class AzureStoreContractTests(AzuriteFixture azurite) : BitsUploadStoreContract, IAsyncLifetime
{
    private StorageHarness? _harness;

    protected StorageHarness Harness => _harness!;

    protected override IBitsUploadStore Store => Harness.Store;

    protected virtual long SegmentBytes => 250_000_000;

    public async ValueTask InitializeAsync() => _harness = await StorageHarness.CreateAsync(azurite, SegmentBytes);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected override Task<byte[]?> ReadPublishedAsync(string destination) => Harness.ReadPublishedAsync(destination);

    protected override async Task<int> CountStagedAsync(string sessionId) => (await Harness.StagedBlobsAsync(sessionId)).Count;

    protected override async Task<bool> SessionRecordExistsAsync(string sessionId) =>
        (await Harness.Sessions.GetEntityIfExistsAsync<global::Azure.Data.Tables.TableEntity>(sessionId, AzureBitsUploadStore.SessionRowKey, cancellationToken: Ct)).HasValue;
}

/// <summary>The same contract with tiny staging segments, so every test crosses many segment boundaries.</summary>
public sealed class AzureStoreSmallSegmentContractTests(AzuriteFixture azurite) : AzureStoreContractTests(azurite)
{
    protected override long SegmentBytes => 4096;
}
