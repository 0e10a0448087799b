using Azure.Storage.Blobs;
using Bits.Client;
using Bits.Testing;

namespace Bits.Host.Tests;

/// <summary>Upload areas configured like IIS virtual directories, over HTTP on Azurite.</summary>
public class UploadAreaTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Areas_FromConfiguration_PublishToTheirContainersAndRefuseWhereDisabled()
    {
        var storage = StorageNames.Unique(azurite);
        var areaContainer = "area-" + Guid.NewGuid().ToString("N")[..10];
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:Areas:reports:PathPrefix"] = "reports",
            ["Bits:Areas:reports:Container"] = areaContainer,
            ["Bits:Areas:reports:BlobPrefix"] = "in/",
            ["Bits:Areas:reports:MaxUploadBytes"] = "100000",
            ["Bits:Areas:archive:PathPrefix"] = "archive",
            ["Bits:Areas:archive:BlobPrefix"] = "archive/",
            ["Bits:Areas:archive:Enabled"] = "false",
        });
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        var file = new byte[50_000];
        new Random(8).NextBytes(file);

        await client.UploadAsync(host.Url("reports/q4.bin"), new MemoryStream(file), ct: Ct);
        var disabled = await client.CreateSessionAsync(host.Url("archive/old.bin"), ct: Ct);
        var tooLarge = await Assert.ThrowsAsync<BitsUploadException>(() => client.UploadAsync(host.Url("reports/big.bin"), new MemoryStream(new byte[100_001]), ct: Ct));

        var blob = new BlobServiceClient(storage.ConnectionString).GetBlobContainerClient(areaContainer).GetBlobClient("in/q4.bin");
        Assert.Equal(file, (await blob.DownloadContentAsync(Ct)).Value.Content.ToArray());
        Assert.Equal(501, disabled.StatusCode);
        Assert.Equal(0x80070005u, disabled.ErrorCode);
        Assert.Equal(0x80200020u, tooLarge.ErrorCode);
    }
}
