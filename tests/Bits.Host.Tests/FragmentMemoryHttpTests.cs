using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bits.Host.Tests;

/// <summary>
/// Issue 12, point 5: fragment memory is leased only for bytes actually received, and given back once the bytes are
/// stored, before the back-end is notified.
/// </summary>
public class FragmentMemoryHttpTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FinalFragmentsWaitingForALateBackEnd_DoNotHoldMemory_FromAnUnrelatedFragment()
    {
        const int Big = 16 * 1024 * 1024;
        const int Count = 4; // 4 x 16 MiB = the default 64 MiB of Bits:FragmentMemoryBytes
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A back-end that answers only when the test says so.
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var backEnd = builder.Build();
        backEnd.MapPost("/hold", async (HttpContext context) =>
        {
            if (Interlocked.Increment(ref arrived) == Count)
            {
                allArrived.TrySetResult();
            }

            await release.Task.WaitAsync(context.RequestAborted);
            context.Response.Headers["BITS-Static-Response-URL"] = "https://replies.example/static/1";
            return Results.Ok();
        });
        await backEnd.StartAsync(Ct);
        var backEndRoot = backEnd.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');

        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:Areas:slow:PathPrefix"] = "slow",
            ["Bits:Areas:slow:BlobPrefix"] = "slow/",
            ["Bits:Areas:slow:NotificationType"] = "ByReference",
            ["Bits:Areas:slow:NotificationUrl"] = backEndRoot + "/hold",
        });
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var file = new byte[Big];
        var finals = new List<Task<HttpResponseMessage>>();
        try
        {
            for (var i = 0; i < Count; i++)
            {
                var url = host.Url($"slow/big{i}.bin");
                var id = await http.CreateSessionAsync(url);
                finals.Add(http.SendAsync(HttpBits.Fragment(url, id, file, 0, Big), Ct));
            }

            // Every final fragment is stored and its back-end call is pending.
            await allArrived.Task.WaitAsync(Ct);

            var small = new byte[1024];
            var smallId = await http.CreateSessionAsync(host.Url("small.bin"));
            using var smallAck = await http.SendAsync(HttpBits.Fragment(host.Url("small.bin"), smallId, small, 0, small.Length), Ct);

            smallAck.AssertAck(200);
        }
        finally
        {
            release.TrySetResult();
        }

        foreach (var final in finals)
        {
            using var ack = await final;
            ack.AssertAck(200);
        }
    }

    [Fact]
    public async Task FragmentsThatDeclareLargeBodiesAndStall_DoNotHoldMemory_FromAnUnrelatedFragment()
    {
        const int Declared = 1024 * 1024;
        const int Stallers = 4; // 4 x 1 MiB declared = the whole budget below
        const int Sent = 100;
        var tap = new BodyTap(Sent);
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(
            storage,
            new Dictionary<string, string?> { ["Bits:FragmentMemoryBytes"] = (Stallers * Declared).ToString(System.Globalization.CultureInfo.InvariantCulture) },
            builder => builder.Services.AddSingleton<IStartupFilter>(tap));
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stallers = new List<Task<HttpResponseMessage>>();
        for (var i = 0; i < Stallers; i++)
        {
            var url = host.Url($"stall{i}.bin");
            var id = await http.CreateSessionAsync(url);
            var request = HttpBits.Packet(url, "Fragment", id);
            request.Content = new StallingContent(Sent, stop.Token);
            request.Content.Headers.ContentLength = Declared;
            request.Content.Headers.TryAddWithoutValidation("Content-Range", $"bytes 0-{Declared - 1}/{Declared}");
            stallers.Add(http.SendAsync(request, stop.Token));
        }

        try
        {
            // The server has read the few bytes each staller sent; every staller now waits for the rest.
            await tap.AllRead(Stallers).WaitAsync(Ct);

            var small = new byte[1024];
            var smallId = await http.CreateSessionAsync(host.Url("small.bin"));
            using var smallAck = await http.SendAsync(HttpBits.Fragment(host.Url("small.bin"), smallId, small, 0, small.Length), Ct);

            // 200 while every staller is still connected: not after Kestrel cut them off (240 B/s after 5 s), nor
            // after the 30 s wait for memory.
            smallAck.AssertAck(200);
            Assert.Equal(0, tap.CutOff);
            Assert.All(stallers, s => Assert.False(s.IsCompleted, "a staller ended before the small fragment was served"));
            Assert.Equal(small.Length, smallAck.Received());
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var staller in stallers)
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => staller);
            }
        }
    }

    /// <summary>Counts the Fragment bodies of which the server has read at least <c>bytes</c> bytes, and those cut off.</summary>
    private sealed class BodyTap(int bytes) : IStartupFilter
    {
        private readonly Lock _lock = new();
        private readonly List<(int Count, TaskCompletionSource Done)> _waits = [];
        private int _read;
        private int _cutOff;

        /// <summary>Bodies whose read failed (Kestrel's minimum data rate, or the client went away).</summary>
        public int CutOff => Volatile.Read(ref _cutOff);

        public Task AllRead(int count)
        {
            lock (_lock)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waits.Add((count, done));
                Signal();
                return done.Task;
            }
        }

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                if (context.Request.Headers["BITS-Packet-Type"] == "Fragment" && context.Request.ContentLength > bytes)
                {
                    context.Request.Body = new TappedStream(context.Request.Body, bytes, OnRead, () => Interlocked.Increment(ref _cutOff));
                }

                await inner(context);
            });
            next(app);
        };

        private void OnRead()
        {
            lock (_lock)
            {
                _read++;
                Signal();
            }
        }

        private void Signal()
        {
            foreach (var (count, done) in _waits.Where(w => w.Count <= _read))
            {
                done.TrySetResult();
            }
        }
    }

    /// <summary>A request body that calls <c>onRead</c> once the reader has taken <c>bytes</c> bytes from it, <c>onFailed</c> when a read fails.</summary>
    private sealed class TappedStream(Stream inner, int bytes, Action onRead, Action onFailed) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n;
            try
            {
                n = await inner.ReadAsync(buffer, cancellationToken);
            }
            catch
            {
                onFailed();
                throw;
            }

            var before = _read;
            _read += n;
            if (before < bytes && _read >= bytes)
            {
                onRead();
            }

            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Sends <c>bytes</c> bytes of a body, then nothing until cancelled (a client that stalls).</summary>
    private sealed class StallingContent(int bytes, CancellationToken stop) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(new byte[bytes], stop);
            await stream.FlushAsync(stop);
            await Task.Delay(Timeout.Infinite, stop);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
