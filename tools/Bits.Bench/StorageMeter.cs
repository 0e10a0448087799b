using System.Diagnostics;
using Azure.Core;
using Azure.Core.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Bits.Bench;

/// <summary>What one BITS request cost on the server: total time in the host, storage calls, their time and bytes.</summary>
public sealed class RequestScope(string packetType, string contentRange)
{
    private long _storageTicks;
    private long _readTicks;
    private int _reads;
    private int _writes;
    private long _bytesSent;
    private long _bytesReceived;

    public string PacketType { get; } = packetType;

    /// <summary>The request's Content-Range (Fragments), e.g. <c>bytes 0-1048575/268435456</c>.</summary>
    public string ContentRange { get; } = contentRange;

    /// <summary>
    /// A Fragment after the first of its session (which also records the file size in the session row) and before its
    /// last (which reads the session afresh before acknowledging the whole file): the hot path.
    /// </summary>
    public bool IsSteadyStateFragment
    {
        get
        {
            var parts = ContentRange.Replace("bytes ", string.Empty, StringComparison.OrdinalIgnoreCase).Split('-', '/');
            return PacketType.Equals("Fragment", StringComparison.OrdinalIgnoreCase)
                && parts.Length == 3
                && long.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var first)
                && long.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var last)
                && long.TryParse(parts[2], System.Globalization.CultureInfo.InvariantCulture, out var total)
                && first > 0 && last + 1 < total;
        }
    }

    public TimeSpan ServerTime { get; set; }

    public TimeSpan StorageTime => TimeSpan.FromTicks(Interlocked.Read(ref _storageTicks));

    /// <summary>Time in reads (GET/HEAD), e.g. the session-row point read.</summary>
    public TimeSpan ReadTime => TimeSpan.FromTicks(Interlocked.Read(ref _readTicks));

    /// <summary>Time in writes, e.g. the Append Block.</summary>
    public TimeSpan WriteTime => StorageTime - ReadTime;

    public int Reads => Volatile.Read(ref _reads);

    public int Writes => Volatile.Read(ref _writes);

    /// <summary>Request body bytes the host sent to storage.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Response body bytes the host received from storage.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public void Add(bool read, long sent, long received, TimeSpan elapsed)
    {
        Interlocked.Add(ref _storageTicks, elapsed.Ticks);
        if (read)
        {
            Interlocked.Add(ref _readTicks, elapsed.Ticks);
        }

        Interlocked.Increment(ref read ? ref _reads : ref _writes);
        Interlocked.Add(ref _bytesSent, sent);
        Interlocked.Add(ref _bytesReceived, received);
    }
}

/// <summary>
/// An Azure SDK pipeline policy for the host's BlobServiceClient and TableServiceClient (as in
/// <c>ClientUploadTests.Fragment_HotPath_CostsOneStorageWriteAndOneRead</c>) plus a middleware: every storage call is
/// charged to the BITS request that made it (an <see cref="AsyncLocal{T}"/> set by the middleware), with its time and
/// the body bytes sent and received.
/// </summary>
public sealed class StorageMeter : HttpPipelinePolicy, IStartupFilter
{
    private static readonly AsyncLocal<RequestScope?> Current = new();
    private readonly List<RequestScope> _scopes = [];

    /// <summary>The scopes recorded since the last <see cref="Take"/>, in completion order.</summary>
    public List<RequestScope> Take()
    {
        lock (_scopes)
        {
            var taken = _scopes.ToList();
            _scopes.Clear();
            return taken;
        }
    }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            ProcessNext(message, pipeline);
        }
        finally
        {
            Record(message, Stopwatch.GetElapsedTime(started));
        }
    }

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await ProcessNextAsync(message, pipeline);
        }
        finally
        {
            Record(message, Stopwatch.GetElapsedTime(started));
        }
    }

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (HttpContext context, RequestDelegate nextMiddleware) =>
        {
            var scope = new RequestScope(context.Request.Headers["BITS-Packet-Type"].ToString(), context.Request.Headers.ContentRange.ToString());
            Current.Value = scope;
            var started = Stopwatch.GetTimestamp();
            try
            {
                await nextMiddleware(context);
            }
            finally
            {
                scope.ServerTime = Stopwatch.GetElapsedTime(started);
                Current.Value = null;
                lock (_scopes)
                {
                    _scopes.Add(scope);
                }
            }
        });
        next(app);
    };

    private static void Record(HttpMessage message, TimeSpan elapsed)
    {
        if (Current.Value is not { } scope)
        {
            return;
        }

        var method = message.Request.Method;
        var read = method == RequestMethod.Get || method == RequestMethod.Head;
        var sent = message.Request.Content is { } content && content.TryComputeLength(out var length) ? length : 0;

        // HEAD's Content-Length describes the blob, not bytes that crossed the wire.
        var received = !message.HasResponse || method == RequestMethod.Head ? 0
            : message.Response.ContentStream is { CanSeek: true } stream ? stream.Length
            : message.Response.Headers.ContentLength ?? 0;
        scope.Add(read, sent, received, elapsed);
    }
}
