using System.Globalization;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Bits.Testing;

namespace Bits.Reliability.Tests;

/// <summary>
/// One test's storage: unique container, table and completion queue names on an Azurite, and a <see cref="FaultProxy"/>
/// in front of its blob, table and queue endpoint. Hosts under test get <see cref="ProxiedConnectionString"/>; the test itself looks at
/// storage directly (<see cref="AzuriteProcess.ConnectionString"/>), past the proxies.
/// </summary>
public sealed class ProxiedStorage : IAsyncDisposable
{
    private ProxiedStorage(AzuriteProcess azurite)
    {
        Azurite = azurite;
        Names = StorageNames.Unique(azurite.ConnectionString);
        CompletionQueue = "events-" + Guid.NewGuid().ToString("N")[..12];
        Blob = FaultProxy.Start(azurite.BlobPort);
        Table = FaultProxy.Start(azurite.TablePort);
        Queue = FaultProxy.Start(azurite.QueuePort);
    }

    public AzuriteProcess Azurite { get; }

    public FaultProxy Blob { get; }

    public FaultProxy Table { get; }

    public FaultProxy Queue { get; }

    /// <summary>A queue name for tests that configure completion events (<c>Bits:CompletionQueue</c>).</summary>
    public string CompletionQueue { get; }

    /// <summary>The unique container and table names, with the direct connection string.</summary>
    public StorageNames Names { get; }

    public string UploadContainer => Names.UploadContainer;

    public string StagingContainer => Names.StagingContainer;

    public string SessionTable => Names.SessionTable;

    /// <summary>Blob, table and queue endpoints through the proxies.</summary>
    public string ProxiedConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteProcess.AccountName};AccountKey={AzuriteProcess.AccountKey};" +
        $"BlobEndpoint={Blob.ServiceUri};QueueEndpoint={Queue.ServiceUri};TableEndpoint={Table.ServiceUri};";

    public string DirectConnectionString => Azurite.ConnectionString;

    public BlobContainerClient Uploads => Names.Uploads;

    public BlobContainerClient Staging => Names.Staging;

    public TableClient Sessions => Names.Sessions;

    /// <summary>The settings a host needs for this storage (connection string through the proxies, unique names), then <paramref name="overrides"/>.</summary>
    public Dictionary<string, string?> HostSettings(bool proxied = true, IEnumerable<KeyValuePair<string, string?>>? overrides = null) =>
        (proxied ? Names with { ConnectionString = ProxiedConnectionString } : Names).Settings(overrides);

    public static ProxiedStorage Create(AzuriteProcess azurite) => new(azurite);

    public Task<byte[]> ReadPublishedAsync(string name) => Names.ReadPublishedAsync(name);

    public async Task<BlobProperties> PublishedPropertiesAsync(string name) =>
        (await Uploads.GetBlobClient(name).GetPropertiesAsync(cancellationToken: TestContext.Current.CancellationToken)).Value;

    /// <summary>Names of every staged blob left in the staging container.</summary>
    public async Task<List<string>> StagedBlobsAsync()
    {
        var names = new List<string>();
        await foreach (var blob in Staging.GetBlobsAsync(cancellationToken: TestContext.Current.CancellationToken))
        {
            names.Add(blob.Name);
        }

        return names;
    }

    /// <summary>Every row of the session table as "PartitionKey/RowKey" (sessions, tombstones, index entries).</summary>
    public async Task<List<string>> RowsAsync(string? rowKey = null)
    {
        var rows = new List<string>();
        await foreach (var row in Sessions.QueryAsync<TableEntity>(cancellationToken: TestContext.Current.CancellationToken))
        {
            if (rowKey is null || row.RowKey == rowKey)
            {
                rows.Add(row.PartitionKey + "/" + row.RowKey);
            }
        }

        return rows;
    }

    /// <summary>Session rows (RowKey <c>session</c>) still in the table.</summary>
    public Task<List<string>> SessionRowsAsync() => RowsAsync("session");

    public async ValueTask DisposeAsync()
    {
        await Blob.DisposeAsync();
        await Table.DisposeAsync();
        await Queue.DisposeAsync();
    }

    /// <summary>The session id as blob names and the <c>bitssessionid</c> metadata spell it: 32 hex digits.</summary>
    public static string SessionKey(string sessionId) => Guid.Parse(sessionId).ToString("N");

    public static string Bytes(long value) => value.ToString(CultureInfo.InvariantCulture);
}
