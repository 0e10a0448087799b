using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Bits.Client;
using Bits.Testing;

namespace Bits.Host.Tests;

/// <summary>Completion events: a JSON message on a storage queue after each publish (Azurite's queue service).</summary>
public class CompletionEventTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Publish_SendsACompletionEventWithWhatDownstreamNeeds()
    {
        var storage = StorageNames.Unique(azurite);
        var queue = "done-" + Guid.NewGuid().ToString("N")[..10];
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?> { ["Bits:CompletionQueue"] = queue });
        using var http = new HttpClient();
        var file = new byte[12_345];
        new Random(1).NextBytes(file);

        var result = await new BitsUploadClient(http).UploadAsync(host.Url("events/a b.bin"), new MemoryStream(file), "a b.bin", ct: Ct);

        var messages = await new QueueClient(storage.ConnectionString, queue).ReceiveMessagesAsync(maxMessages: 10, cancellationToken: Ct);
        var message = Assert.Single(messages.Value);
        using var json = JsonDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(message.MessageText)));
        var root = json.RootElement;
        Assert.Equal(result.SessionId, root.GetProperty("sessionId").GetString());
        Assert.Equal("events/a b.bin", root.GetProperty("blobName").GetString());
        Assert.Equal(file.Length, root.GetProperty("size").GetInt64());
        Assert.Equal("default", root.GetProperty("area").GetString());
        Assert.True(root.GetProperty("completedAt").GetDateTimeOffset() >= root.GetProperty("createdAt").GetDateTimeOffset());
        Assert.True(await new BlobServiceClient(storage.ConnectionString).GetBlobContainerClient(storage.UploadContainer).GetBlobClient("events/a b.bin").ExistsAsync(Ct));
    }
}
