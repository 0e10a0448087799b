using System.Collections.Concurrent;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Bits.Testing;

/// <summary>
/// Azure's per-blob limit of uncommitted blocks, which Azurite does not enforce, lowered for tests: counts the distinct
/// block ids staged on each blob (Put Block and Put Block From URL; rewriting an id takes no new place), answers a new id
/// on a full blob with storage's 409 <c>BlockCountExceedsLimit</c> before sending it, and forgets a blob's blocks when a
/// Put Block List or a Delete Blob on it succeeds (both drop every uncommitted block).
/// </summary>
public sealed class BlockLimitPolicy : HttpPipelinePolicy
{
    private readonly ConcurrentDictionary<string, HashSet<string>> _blocks = new(StringComparer.Ordinal);

    /// <summary>Uncommitted blocks a blob may hold; unlimited until a test lowers it.</summary>
    public int MaxUncommittedBlocks { get; set; } = int.MaxValue;

    /// <summary>Requests refused with 409 so far.</summary>
    public int Refused { get; private set; }

    /// <summary>The most uncommitted blocks any blob held.</summary>
    public int Peak { get; private set; }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        throw new NotSupportedException("The store is asynchronous.");

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var blob = message.Request.Uri.Path;
        var query = message.Request.Uri.Query;
        var blockId = message.Request.Method == RequestMethod.Put && Has(query, "comp=block") ? Parameter(query, "blockid") : null;
        if (blockId is not null)
        {
            var set = _blocks.GetOrAdd(blob, _ => []);
            lock (set)
            {
                if (!set.Contains(blockId) && set.Count >= MaxUncommittedBlocks)
                {
                    Refused++;
                    throw new RequestFailedException(409, "The uncommitted block count cannot exceed the maximum limit.", "BlockCountExceedsLimit", null);
                }
            }
        }

        await ProcessNextAsync(message, pipeline);
        if (message.Response.IsError)
        {
            return;
        }

        if (blockId is not null)
        {
            var set = _blocks.GetOrAdd(blob, _ => []);
            lock (set)
            {
                set.Add(blockId);
                Peak = Math.Max(Peak, set.Count);
            }
        }
        else if ((message.Request.Method == RequestMethod.Put && Has(query, "comp=blocklist")) || (message.Request.Method == RequestMethod.Delete && !Has(query, "restype=")))
        {
            _blocks.TryRemove(blob, out _);
        }
    }

    private static bool Has(string query, string pair) =>
        query.TrimStart('?').Split('&').Any(p => p == pair || (pair.EndsWith('=') && p.StartsWith(pair, StringComparison.Ordinal)));

    private static string? Parameter(string query, string name) =>
        query.TrimStart('?').Split('&').Where(p => p.StartsWith(name + "=", StringComparison.Ordinal)).Select(p => Uri.UnescapeDataString(p[(name.Length + 1)..])).FirstOrDefault();
}
