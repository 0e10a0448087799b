using System.Collections.Concurrent;
using System.Text.Json;
using Azure.Storage.Queues;
using Bits.Protocol;
using Microsoft.Extensions.Options;

namespace Bits.Storage.Azure;

/// <summary>
/// Completion events as JSON messages on Azure Storage queues (created on first use). Messages are base64-encoded by
/// default, which is what the Functions queue trigger expects.
/// </summary>
public sealed class AzureQueueCompletionSink : IBitsCompletionSink
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly QueueServiceClient _queues;
    private readonly ConcurrentDictionary<string, Lazy<Task<QueueClient>>> _clients = new(StringComparer.Ordinal);

    public AzureQueueCompletionSink(QueueServiceClient queues, IOptions<AzureBitsStorageOptions> options)
    {
        _queues = queues;
        Base64 = options.Value.CompletionMessageBase64;
    }

    private bool Base64 { get; }

    public async Task PublishAsync(string queue, BitsCompletionEvent completion, CancellationToken cancellationToken)
    {
        var client = await _clients.GetOrAdd(queue, name => new Lazy<Task<QueueClient>>(() => CreateAsync(name))).Value;
        var json = JsonSerializer.Serialize(completion, Json);
        var message = Base64 ? Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(json)) : json;
        await client.SendMessageAsync(message, cancellationToken);
    }

    private async Task<QueueClient> CreateAsync(string name)
    {
        var client = _queues.GetQueueClient(name);
        await client.CreateIfNotExistsAsync();
        return client;
    }
}
