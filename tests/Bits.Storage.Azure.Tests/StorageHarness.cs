using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace Bits.Storage.Azure.Tests;

/// <summary>An Azure store on the shared Azurite, with its own table and containers.</summary>
public sealed class StorageHarness
{
    private readonly TimeProvider _time;
    private readonly BitsServerOptions _server;

    public StorageHarness(string connectionString, TimeProvider? time = null, BitsServerOptions? server = null)
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        Options = new AzureBitsStorageOptions
        {
            ConnectionString = connectionString,
            UploadContainer = "up-" + suffix,
            StagingContainer = "st-" + suffix,
            SessionTable = "sessions" + suffix,
        };
        var blobOptions = new BlobClientOptions();
        blobOptions.AddPolicy(Counter, HttpPipelinePosition.PerCall);
        blobOptions.AddPolicy(BlockLimit, HttpPipelinePosition.PerCall);
        var tableOptions = new TableClientOptions();
        tableOptions.AddPolicy(Counter, HttpPipelinePosition.PerCall);
        Blobs = new BlobServiceClient(connectionString, blobOptions);
        Tables = new TableServiceClient(connectionString, tableOptions);
        _time = time ?? TimeProvider.System;
        _server = server ?? new BitsServerOptions();
        Store = NewStore();
    }

    public RequestCounter Counter { get; } = new();

    /// <summary>Azure's uncommitted-block limit, which Azurite does not enforce; unlimited until <see cref="LowerLimits"/>.</summary>
    public BlockLimitPolicy BlockLimit { get; } = new();

    public AzureBitsStorageOptions Options { get; }

    public BlobServiceClient Blobs { get; }

    public TableServiceClient Tables { get; }

    public AzureBitsUploadStore Store { get; private set; }

    /// <summary>Replaces <see cref="Store"/> by one with <paramref name="budget"/> (same storage), and enforces its uncommitted limit.</summary>
    public void LowerLimits(BitsBlockBudget budget)
    {
        Options.BlockBudget = budget;
        BlockLimit.MaxUncommittedBlocks = budget.MaxUncommittedBlocks;
        Store = NewStore();
    }

    private AzureBitsUploadStore NewStore() => new(
        Blobs,
        Tables,
        Microsoft.Extensions.Options.Options.Create(Options),
        Microsoft.Extensions.Options.Options.Create(_server),
        _time,
        NullLogger<AzureBitsUploadStore>.Instance);

    public BlobContainerClient Staging => Blobs.GetBlobContainerClient(Options.StagingContainer);

    public BlobContainerClient Uploads => Blobs.GetBlobContainerClient(Options.UploadContainer);

    public TableClient Sessions => Tables.GetTableClient(Options.SessionTable);

    public static async Task<StorageHarness> CreateAsync(AzuriteFixture azurite, TimeProvider? time = null, BitsServerOptions? server = null)
    {
        var harness = new StorageHarness(azurite.ConnectionString, time, server);
        await harness.Store.InitializeAsync(cancellationToken: TestContext.Current.CancellationToken);
        harness.Counter.Reset();
        return harness;
    }

    public async Task<byte[]?> ReadPublishedAsync(string destination)
    {
        var blob = Uploads.GetBlobClient(destination);
        if (!await blob.ExistsAsync(TestContext.Current.CancellationToken))
        {
            return null;
        }

        return (await blob.DownloadContentAsync(TestContext.Current.CancellationToken)).Value.Content.ToArray();
    }

    public async Task<List<string>> StagedBlobsAsync(string? sessionId = null)
    {
        var prefix = sessionId is null ? null : AzureBitsUploadStore.SessionKey(sessionId) + "/";
        var names = new List<string>();
        await foreach (var blob in Staging.GetBlobsAsync(new global::Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }, TestContext.Current.CancellationToken))
        {
            names.Add(blob.Name);
        }

        return names;
    }

    /// <summary>Uncommitted block ids on the destination blob (all sessions, or those of <paramref name="sessionId"/>); empty when the blob has none.</summary>
    public async Task<List<string>> UncommittedBlocksAsync(string destination, string? sessionId = null)
    {
        try
        {
            var list = await Uploads.GetBlockBlobClient(destination).GetBlockListAsync(
                global::Azure.Storage.Blobs.Models.BlockListTypes.Uncommitted, cancellationToken: TestContext.Current.CancellationToken);
            var key = sessionId is null ? null : AzureBitsUploadStore.SessionKey(sessionId);
            return list.Value.UncommittedBlocks.Select(b => b.Name).Where(n => key is null || BlockChain.OwnerOf(n) == key).ToList();
        }
        catch (global::Azure.RequestFailedException ex) when (ex.Status == 404)
        {
            return [];
        }
    }

    /// <summary>What the store contracts count as staged for a session: its own blobs and its blocks on the destination.</summary>
    public async Task<int> CountStagedAsync(BitsSession session) =>
        (await StagedBlobsAsync(session.Id)).Count + (await UncommittedBlocksAsync(session.Destination, session.Id)).Count;

    /// <summary>Whether a listing of the uploads container with uncommitted blobs included shows the destination.</summary>
    public async Task<bool> ListedAsync(string destination)
    {
        await foreach (var blob in Uploads.GetBlobsAsync(
            new global::Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = destination, States = global::Azure.Storage.Blobs.Models.BlobStates.Uncommitted },
            TestContext.Current.CancellationToken))
        {
            if (blob.Name == destination)
            {
                return true;
            }
        }

        return false;
    }

    public async Task<List<(string PartitionKey, string RowKey)>> RowsAsync(string? rowKey = null)
    {
        var rows = new List<(string, string)>();
        await foreach (var entity in Sessions.QueryAsync<TableEntity>(cancellationToken: TestContext.Current.CancellationToken))
        {
            if (rowKey is null || entity.RowKey == rowKey)
            {
                rows.Add((entity.PartitionKey, entity.RowKey));
            }
        }

        return rows;
    }
}
