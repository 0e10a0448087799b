using System.Diagnostics;
using System.Globalization;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Bits.Client;
using Bits.Load;

namespace Bits.Bench;

/// <summary>Throughput of one way of writing the same bytes: MiB/s over the fragment phase and per-fragment latencies.</summary>
public sealed record ThroughputResult(long Bytes, TimeSpan Elapsed, IReadOnlyList<TimeSpan> Latencies, long AllocatedBytes)
{
    /// <summary>Bytes this process allocated per fragment during the timed phase (GC.GetTotalAllocatedBytes).</summary>
    public double AllocatedPerFragment => Latencies.Count == 0 ? double.NaN : AllocatedBytes / (double)Latencies.Count;

    public double MiBPerSecond => Bytes / 1048576.0 / Elapsed.TotalSeconds;
}

/// <summary>A BITS run: the fragment phase, what the server recorded per request, and the Close-Session (publish).</summary>
public sealed record BitsResult(ThroughputResult Fragments, IReadOnlyList<RequestScope> FragmentScopes, IReadOnlyList<TimeSpan> CloseLatencies, IReadOnlyList<RequestScope> CloseScopes)
{
    /// <summary>Arrays of 64 KiB or more the shared ArrayPool allocated during the fragment phase (not reused ones).</summary>
    public (long Count, long Bytes) PoolAllocations { get; init; }
}

public static class Scenarios
{
    /// <summary>The store's default staging segment size (<c>BitsStorage:SegmentBytes</c>): the baseline rolls over like the server.</summary>
    public const long SegmentBytes = 250_000_000;

    /// <summary>
    /// The direct baseline: the server's storage call pattern without the server. Per session an append blob segment is
    /// created, then each fragment is one AppendBlock with If-Append-Position (and the max-size condition), segments
    /// rolling over like the store's; with <paramref name="table"/>, each fragment first does the server's session-row
    /// point read. Sessions run concurrently, fragments of one session in order.
    /// </summary>
    public static async Task<ThroughputResult> DirectAsync(BlobContainerClient staging, TableClient? table, byte[] data, int fragment, int sessions, CancellationToken ct)
    {
        var perSession = data.Length / sessions;
        var run = Guid.NewGuid().ToString("N");
        var latencies = new List<TimeSpan>[sessions];
        for (var i = 0; i < sessions; i++)
        {
            latencies[i] = [];
            await Segment(staging, run, i, 0).CreateIfNotExistsAsync(cancellationToken: ct);
            if (table is not null)
            {
                await table.AddEntityAsync(new TableEntity($"{run}-{i}", "session") { ["Destination"] = "bench.bin", ["SegmentBytes"] = SegmentBytes }, ct);
            }
        }

        var allocated = GC.GetTotalAllocatedBytes();
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
        {
            for (long offset = 0; offset < perSession; offset += fragment)
            {
                var length = (int)Math.Min(fragment, perSession - offset);
                var started = Stopwatch.GetTimestamp();
                if (table is not null)
                {
                    await table.GetEntityIfExistsAsync<TableEntity>($"{run}-{i}", "session", cancellationToken: ct);
                }

                // Like AzureBitsUploadStore.AppendAsync: split at segment boundaries, open the next segment when one fills.
                for (long position = offset, end = offset + length; position < end;)
                {
                    var index = position / SegmentBytes;
                    var within = position - (index * SegmentBytes);
                    var count = (int)Math.Min(end - position, SegmentBytes - within);
                    using var content = new MemoryStream(data, (int)((i * (long)perSession) + position), count, writable: false);
                    await Segment(staging, run, i, index).AppendBlockAsync(content, new AppendBlobAppendBlockOptions
                    {
                        Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = within, IfMaxSizeLessThanOrEqual = SegmentBytes },
                    }, ct);
                    position += count;
                    if (within + count == SegmentBytes)
                    {
                        await Segment(staging, run, i, index + 1).CreateIfNotExistsAsync(cancellationToken: ct);
                    }
                }

                latencies[i].Add(Stopwatch.GetElapsedTime(started));
            }
        }));
        var elapsed = stopwatch.Elapsed;
        allocated = GC.GetTotalAllocatedBytes() - allocated;

        await foreach (var blob in staging.GetBlobsAsync(new GetBlobsOptions { Prefix = run + "/" }, ct))
        {
            await staging.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: ct);
        }

        return new ThroughputResult((long)perSession * sessions, elapsed, latencies.SelectMany(l => l).ToList(), allocated);
    }

    /// <summary>
    /// The same bytes as BITS uploads through the host with the .NET client: Create-Session per session, then the
    /// fragments of each session in order (sessions concurrently), timed; then Close-Session (the publish), timed apart.
    /// </summary>
    public static async Task<BitsResult> BitsAsync(BitsUploadClient client, Func<string, Uri> url, StorageMeter meter, PoolListener pool, byte[] data, int fragment, int sessions, string label, CancellationToken ct)
    {
        var perSession = data.Length / sessions;
        var urls = Enumerable.Range(0, sessions).Select(i => url(string.Create(CultureInfo.InvariantCulture, $"bench/{label}/{Guid.NewGuid():N}-{i}.bin"))).ToList();
        var ids = new string[sessions];
        for (var i = 0; i < sessions; i++)
        {
            var created = await client.CreateSessionAsync(urls[i], ct: ct);
            ids[i] = created.IsSuccess && created.SessionId is { } id ? id : throw new InvalidOperationException($"Create-Session failed: {created}");
        }

        meter.Take();
        var latencies = new List<TimeSpan>[sessions];
        var allocated = GC.GetTotalAllocatedBytes();
        pool.Take();
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
        {
            latencies[i] = [];
            for (long offset = 0; offset < perSession; offset += fragment)
            {
                var length = (int)Math.Min(fragment, perSession - offset);
                var started = Stopwatch.GetTimestamp();
                var ack = await client.SendFragmentAsync(urls[i], ids[i], data.AsMemory((int)((i * (long)perSession) + offset), length), offset, perSession, ct: ct);
                latencies[i].Add(Stopwatch.GetElapsedTime(started));
                if (ack.StatusCode != 200 || ack.ReceivedContentRange != offset + length)
                {
                    throw new InvalidOperationException($"Fragment at {offset} of session {i} was answered {ack}");
                }
            }
        }));
        var elapsed = stopwatch.Elapsed;
        allocated = GC.GetTotalAllocatedBytes() - allocated;
        var pooled = pool.Take();
        var fragmentScopes = meter.Take();

        var closeLatencies = new List<TimeSpan>();
        for (var i = 0; i < sessions; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var closed = await client.CloseSessionAsync(urls[i], ids[i], ct);
            closeLatencies.Add(Stopwatch.GetElapsedTime(started));
            if (closed.StatusCode != 200)
            {
                throw new InvalidOperationException($"Close-Session of session {i} was answered {closed}");
            }
        }

        var closeScopes = meter.Take();
        return new BitsResult(new ThroughputResult((long)perSession * sessions, elapsed, latencies.SelectMany(l => l).ToList(), allocated), fragmentScopes, closeLatencies, closeScopes)
        {
            PoolAllocations = pooled,
        };
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

    private static AppendBlobClient Segment(BlobContainerClient staging, string run, int session, long index) =>
        staging.GetAppendBlobClient(string.Create(CultureInfo.InvariantCulture, $"{run}/{session}/{index:D6}"));
}
