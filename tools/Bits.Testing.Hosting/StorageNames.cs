using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Bits.Testing;

/// <summary>
/// Names of one run's (or one test's) storage resources on one storage account, shared by every host of that run: the
/// settings a host needs for them, and what a test or the load tool checks in storage afterwards.
/// </summary>
public sealed record StorageNames(string ConnectionString, string UploadContainer, string StagingContainer, string SessionTable)
{
    /// <summary>New unique names: <c>up-</c>, <c>st-</c> and <c>sessions</c> with a random suffix, after <paramref name="prefix"/> if given.</summary>
    public static StorageNames Unique(string connectionString, string prefix = "")
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var lead = prefix.Length == 0 ? string.Empty : prefix + "-";
        return new StorageNames(connectionString, $"{lead}up-{suffix}", $"{lead}st-{suffix}", prefix + "sessions" + suffix);
    }

    /// <summary>The <c>BitsStorage</c> settings of a host on these names, then <paramref name="overrides"/> (a new dictionary).</summary>
    public Dictionary<string, string?> Settings(IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["BitsStorage:ConnectionString"] = ConnectionString,
            ["BitsStorage:UploadContainer"] = UploadContainer,
            ["BitsStorage:StagingContainer"] = StagingContainer,
            ["BitsStorage:SessionTable"] = SessionTable,
        };
        foreach (var (key, value) in overrides ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    public BlobContainerClient Uploads => new BlobServiceClient(ConnectionString).GetBlobContainerClient(UploadContainer);

    public BlobContainerClient Staging => new BlobServiceClient(ConnectionString).GetBlobContainerClient(StagingContainer);

    public TableClient Sessions => new TableServiceClient(ConnectionString).GetTableClient(SessionTable);

    /// <summary>The content of a published file.</summary>
    public async Task<byte[]> ReadPublishedAsync(string name, CancellationToken cancellationToken) =>
        (await Uploads.GetBlobClient(name).DownloadContentAsync(cancellationToken)).Value.Content.ToArray();

    /// <summary>Blobs holding staged data: the staging container's (upload-reply sessions), plus destinations that
    /// have only uncommitted blocks (what a listing with uncommitted blobs shows beyond the published files).</summary>
    public async Task<int> StagedBlobCountAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var _ in Staging.GetBlobsAsync(cancellationToken: cancellationToken))
        {
            count++;
        }

        var committed = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var blob in Uploads.GetBlobsAsync(cancellationToken: cancellationToken))
        {
            committed.Add(blob.Name);
        }

        await foreach (var blob in Uploads.GetBlobsAsync(new GetBlobsOptions { States = BlobStates.Uncommitted }, cancellationToken))
        {
            count += committed.Contains(blob.Name) ? 0 : 1;
        }

        return count;
    }

    /// <summary>Live session rows left in the session table (after all Closes: must be 0; tombstones are kept by design).</summary>
    public async Task<int> SessionRowCountAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var _ in Sessions.QueryAsync<TableEntity>(e => e.RowKey == "session", select: ["RowKey"], cancellationToken: cancellationToken))
        {
            count++;
        }

        return count;
    }

    /// <summary>Deletes the run's containers and table.</summary>
    public async Task DeleteAsync(CancellationToken cancellationToken)
    {
        await Uploads.DeleteIfExistsAsync(cancellationToken: cancellationToken);
        await Staging.DeleteIfExistsAsync(cancellationToken: cancellationToken);
        await Sessions.DeleteAsync(cancellationToken);
    }
}
