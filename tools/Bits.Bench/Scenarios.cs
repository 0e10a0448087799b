using System.Diagnostics;
using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Bits.Client;
using Bits.Load;

namespace Bits.Bench;

/// <summary>Throughput of one way of writing the same bytes: MiB/s over a timed phase and per-fragment latencies.</summary>
public sealed record ThroughputResult(long Bytes, TimeSpan Elapsed, IReadOnlyList<TimeSpan> Latencies, long AllocatedBytes)
{
    /// <summary>Bytes this process allocated per fragment during the timed phase (GC.GetTotalAllocatedBytes).</summary>
    public double AllocatedPerFragment => Latencies.Count == 0 ? double.NaN : AllocatedBytes / (double)Latencies.Count;

    public double MiBPerSecond => Bytes / 1048576.0 / Elapsed.TotalSeconds;
}

/// <summary>
/// One run of the direct baseline: <see cref="EndToEnd"/> from the first blob's creation to the last session's last
/// append (what a user of the SDK would wait for); <see cref="Fragments"/> the append phase alone.
/// </summary>
public sealed record DirectResult(ThroughputResult EndToEnd, ThroughputResult Fragments);

/// <summary>
/// A BITS run: <see cref="EndToEnd"/> from the first Create-Session to the last Close-Session Ack (what a user waits
/// for), the fragment phase alone, the Close-Session latencies, and what the server recorded per request.
/// </summary>
public sealed record BitsResult(ThroughputResult EndToEnd, ThroughputResult Fragments, IReadOnlyList<TimeSpan> CloseLatencies, IReadOnlyList<RequestScope> Scopes)
{
    /// <summary>Arrays of 64 KiB or more the shared ArrayPool allocated during the run (not reused ones).</summary>
    public (long Count, long Bytes) PoolAllocations { get; init; }

    public IEnumerable<RequestScope> FragmentScopes => Scopes.Where(s => s.PacketType.Equals("Fragment", StringComparison.OrdinalIgnoreCase));

    public IEnumerable<RequestScope> CloseScopes => Scopes.Where(s => s.PacketType.Equals("Close-Session", StringComparison.OrdinalIgnoreCase));
}

public static class Scenarios
{
    /// <summary>
    /// The direct baseline: the same bytes written straight to storage with the Azure SDK, no server. Per session one
    /// append blob is created, then each fragment is one Append Block with If-Append-Position (the storage-checked
    /// offset a resumable upload needs). Sessions run concurrently, fragments of one session in order. The clock runs
    /// from the first create to the last append, like the BITS run's from the first Create-Session to the last Close.
    /// </summary>
    public static async Task<DirectResult> DirectAsync(BlobContainerClient container, byte[] data, int fragment, int sessions, CancellationToken ct)
    {
        var perSession = data.Length / sessions;
        var run = Guid.NewGuid().ToString("N");
        var latencies = new List<TimeSpan>[sessions];
        var firstAppend = new long[sessions];
        var lastAppend = new long[sessions];
        var allocated = GC.GetTotalAllocatedBytes();
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
        {
            latencies[i] = [];
            var blob = container.GetAppendBlobClient(string.Create(CultureInfo.InvariantCulture, $"{run}/{i}.bin"));
            await blob.CreateAsync(cancellationToken: ct);
            firstAppend[i] = stopwatch.ElapsedTicks;
            for (long offset = 0; offset < perSession; offset += fragment)
            {
                var length = (int)Math.Min(fragment, perSession - offset);
                var started = Stopwatch.GetTimestamp();
                using var content = new MemoryStream(data, (int)((i * (long)perSession) + offset), length, writable: false);
                await blob.AppendBlockAsync(content, new AppendBlobAppendBlockOptions
                {
                    Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = offset },
                }, ct);
                latencies[i].Add(Stopwatch.GetElapsedTime(started));
            }

            lastAppend[i] = stopwatch.ElapsedTicks;
        }));
        return await FinishAsync(container, run, latencies, (firstAppend, lastAppend), stopwatch.Elapsed, GC.GetTotalAllocatedBytes() - allocated, (long)perSession * sessions, ct);
    }

    /// <summary>
    /// The floor of the design (issue 14, requirement 1), no server: the same client writes what the host writes for
    /// each Fragment straight to storage, one Put Block on the destination blob and then the If-Match merge of a
    /// session row (the offset truth), in order; per session the row is inserted first and the blocks committed with
    /// one Put Block List at the end, like Create-Session and Close-Session. Against <see cref="DirectAsync"/> it says
    /// what the two storage writes per Fragment cost on this storage; against BITS, what the host adds.
    /// </summary>
    public static async Task<DirectResult> DesignFloorAsync(BlobContainerClient container, TableClient table, byte[] data, int fragment, int sessions, CancellationToken ct)
    {
        var perSession = data.Length / sessions;
        var run = Guid.NewGuid().ToString("N");
        var latencies = new List<TimeSpan>[sessions];
        var firstWrite = new long[sessions];
        var lastWrite = new long[sessions];
        var allocated = GC.GetTotalAllocatedBytes();
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
        {
            latencies[i] = [];
            var blob = container.GetBlockBlobClient(string.Create(CultureInfo.InvariantCulture, $"{run}/{i}.bin"));
            var row = new TableEntity(run, i.ToString(CultureInfo.InvariantCulture)) { ["Received"] = 0L, ["Blocks"] = 0 };
            var etag = (await table.AddEntityAsync(row, ct)).Headers.ETag!.Value;
            firstWrite[i] = stopwatch.ElapsedTicks;
            var blocks = new List<string>();
            for (long offset = 0; offset < perSession; offset += fragment)
            {
                var length = (int)Math.Min(fragment, perSession - offset);
                var started = Stopwatch.GetTimestamp();
                var id = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{offset:D16}-{length:D10}")));
                using var content = new MemoryStream(data, (int)((i * (long)perSession) + offset), length, writable: false);
                await blob.StageBlockAsync(id, content, cancellationToken: ct);
                var merge = new TableEntity(run, row.RowKey) { ["Received"] = offset + length, ["Blocks"] = blocks.Count + 1 };
                etag = (await table.UpdateEntityAsync(merge, etag, TableUpdateMode.Merge, ct)).Headers.ETag!.Value;
                blocks.Add(id);
                latencies[i].Add(Stopwatch.GetElapsedTime(started));
            }

            lastWrite[i] = stopwatch.ElapsedTicks;
            await blob.CommitBlockListAsync(blocks, cancellationToken: ct);
            await table.DeleteEntityAsync(run, row.RowKey, ETag.All, ct);
        }));
        return await FinishAsync(container, run, latencies, (firstWrite, lastWrite), stopwatch.Elapsed, GC.GetTotalAllocatedBytes() - allocated, (long)perSession * sessions, ct);
    }

    /// <summary>Deletes a direct-style run's blobs and builds its result (end to end, and the write phase alone).</summary>
    private static async Task<DirectResult> FinishAsync(
        BlobContainerClient container, string run, List<TimeSpan>[] latencies, (long[] Starts, long[] Ends) phase, TimeSpan elapsed, long allocated, long bytes, CancellationToken ct)
    {
        await foreach (var blob in container.GetBlobsAsync(new GetBlobsOptions { Prefix = run + "/" }, ct))
        {
            await container.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: ct);
        }

        var all = latencies.SelectMany(l => l).ToList();
        return new DirectResult(
            new ThroughputResult(bytes, elapsed, all, allocated),
            new ThroughputResult(bytes, Phase(phase.Starts, phase.Ends), all, allocated));
    }

    /// <summary>
    /// The same bytes as BITS uploads through the host with the .NET client, each session Create-Session, its
    /// fragments in order, Close-Session (sessions concurrently). The clock runs from the first Create-Session to the
    /// last Close-Session Ack; the fragment phase and each Close are also timed apart.
    /// </summary>
    public static async Task<BitsResult> BitsAsync(BitsUploadClient client, Func<string, Uri> url, StorageMeter meter, PoolListener pool, byte[] data, int fragment, int sessions, string label, CancellationToken ct)
    {
        var perSession = data.Length / sessions;
        var urls = Enumerable.Range(0, sessions).Select(i => url(string.Create(CultureInfo.InvariantCulture, $"bench/{label}/{Guid.NewGuid():N}-{i}.bin"))).ToList();
        var latencies = new List<TimeSpan>[sessions];
        var closes = new TimeSpan[sessions];
        var firstFragment = new long[sessions];
        var lastFragment = new long[sessions];
        meter.Take();
        pool.Take();
        var allocated = GC.GetTotalAllocatedBytes();
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
        {
            latencies[i] = [];
            var created = await client.CreateSessionAsync(urls[i], ct: ct);
            var id = created.IsSuccess && created.SessionId is { } s ? s : throw new InvalidOperationException($"Create-Session failed: {created}");
            firstFragment[i] = stopwatch.ElapsedTicks;
            for (long offset = 0; offset < perSession; offset += fragment)
            {
                var length = (int)Math.Min(fragment, perSession - offset);
                var started = Stopwatch.GetTimestamp();
                var ack = await client.SendFragmentAsync(urls[i], id, data.AsMemory((int)((i * (long)perSession) + offset), length), offset, perSession, ct: ct);
                latencies[i].Add(Stopwatch.GetElapsedTime(started));
                if (ack.StatusCode != 200 || ack.ReceivedContentRange != offset + length)
                {
                    throw new InvalidOperationException($"Fragment at {offset} of session {i} was answered {ack}");
                }
            }

            lastFragment[i] = stopwatch.ElapsedTicks;
            var closing = Stopwatch.GetTimestamp();
            var closed = await client.CloseSessionAsync(urls[i], id, ct);
            closes[i] = Stopwatch.GetElapsedTime(closing);
            if (closed.StatusCode != 200)
            {
                throw new InvalidOperationException($"Close-Session of session {i} was answered {closed}");
            }
        }));
        var elapsed = stopwatch.Elapsed;
        allocated = GC.GetTotalAllocatedBytes() - allocated;
        var all = latencies.SelectMany(l => l).ToList();
        var bytes = (long)perSession * sessions;
        return new BitsResult(
            new ThroughputResult(bytes, elapsed, all, allocated),
            new ThroughputResult(bytes, Phase(firstFragment, lastFragment), all, allocated),
            closes,
            meter.Take())
        {
            PoolAllocations = pool.Take(),
        };
    }

    /// <summary>
    /// Close-Session latency of one upload of <paramref name="size"/> bytes in <paramref name="fragment"/> fragments
    /// (contents cycle through <paramref name="data"/>, so sizes beyond it need no more memory); the published blob is
    /// deleted afterwards. Returns the Close latency and the storage requests the host made for it.
    /// </summary>
    public static async Task<(TimeSpan Close, int StorageRequests)> CloseLatencyAsync(BitsUploadClient client, Uri url, StorageMeter meter, byte[] data, long size, int fragment, CancellationToken ct)
    {
        var created = await client.CreateSessionAsync(url, ct: ct);
        var id = created.IsSuccess && created.SessionId is { } s ? s : throw new InvalidOperationException($"Create-Session failed: {created}");
        var slices = data.Length / fragment;
        for (long offset = 0; offset < size; offset += fragment)
        {
            var length = (int)Math.Min(fragment, size - offset);
            var start = (int)(offset / fragment % slices) * fragment;
            var ack = await client.SendFragmentAsync(url, id, data.AsMemory(start, length), offset, size, ct: ct);
            if (ack.StatusCode != 200 || ack.ReceivedContentRange != offset + length)
            {
                throw new InvalidOperationException($"Fragment at {offset} of a {size}-byte upload was answered {ack}");
            }
        }

        meter.Take();
        var started = Stopwatch.GetTimestamp();
        var closed = await client.CloseSessionAsync(url, id, ct);
        var latency = Stopwatch.GetElapsedTime(started);
        if (closed.StatusCode != 200)
        {
            throw new InvalidOperationException($"Close-Session of a {size}-byte upload was answered {closed}");
        }

        var requests = meter.Take().Where(s => s.PacketType.Equals("Close-Session", StringComparison.OrdinalIgnoreCase)).Sum(s => s.Reads + s.Writes);
        return (latency, requests);
    }

    /// <summary>Sequential Pings after a warm-up; client-side latency of each.</summary>
    public static async Task<List<TimeSpan>> PingAsync(BitsUploadClient client, Uri url, int count, CancellationToken ct)
    {
        for (var i = 0; i < 200; i++)
        {
            await client.PingAsync(url, ct);
        }

        var latencies = new List<TimeSpan>(count);
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var ack = await client.PingAsync(url, ct);
            latencies.Add(Stopwatch.GetElapsedTime(started));
            if (ack.StatusCode != 200)
            {
                throw new InvalidOperationException($"Ping was answered {ack}");
            }
        }

        return latencies;
    }

    /// <summary>The wall time from the earliest start to the latest end (Stopwatch ticks) over concurrent sessions.</summary>
    private static TimeSpan Phase(long[] starts, long[] ends) =>
        TimeSpan.FromSeconds((ends.Max() - starts.Min()) / (double)Stopwatch.Frequency);
}
