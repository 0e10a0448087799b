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
        var suffix = Guid.NewGuid().ToString("N")[..12];
        UploadContainer = "up-" + suffix;
        StagingContainer = "st-" + suffix;
        SessionTable = "sessions" + suffix;
        CompletionQueue = "events-" + suffix;
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

    public string UploadContainer { get; }

    public string StagingContainer { get; }

    public string SessionTable { get; }

    /// <summary>Blob, table and queue endpoints through the proxies.</summary>
    public string ProxiedConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteProcess.AccountName};AccountKey={AzuriteProcess.AccountKey};" +
        $"BlobEndpoint={Blob.ServiceUri};QueueEndpoint={Queue.ServiceUri};TableEndpoint={Table.ServiceUri};";

    public string DirectConnectionString => Azurite.ConnectionString;

    public BlobContainerClient Uploads => new BlobServiceClient(DirectConnectionString).GetBlobContainerClient(UploadContainer);

    public BlobContainerClient Staging => new BlobServiceClient(DirectConnectionString).GetBlobContainerClient(StagingContainer);

    public TableClient Sessions => new TableServiceClient(DirectConnectionString).GetTableClient(SessionTable);

    /// <summary>The settings a host needs for this storage (connection string through the proxies, unique names).</summary>
    public Dictionary<string, string?> HostSettings(bool proxied = true) => new()
    {
        ["BitsStorage:ConnectionString"] = proxied ? ProxiedConnectionString : DirectConnectionString,
        ["BitsStorage:UploadContainer"] = UploadContainer,
        ["BitsStorage:StagingContainer"] = StagingContainer,
        ["BitsStorage:SessionTable"] = SessionTable,
    };

    public static ProxiedStorage Create(AzuriteProcess azurite) => new(azurite);

    public async Task<byte[]> ReadPublishedAsync(string name) =>
        (await Uploads.GetBlobClient(name).DownloadContentAsync(TestContext.Current.CancellationToken)).Value.Content.ToArray();

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

    public static byte[] RandomFile(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Bytes(long value) => value.ToString(CultureInfo.InvariantCulture);
}
