using Bits.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Protocol.Tests;

/// <summary>The bound on fragment buffer memory (<see cref="BitsServerOptions.FragmentMemoryBytes"/>) and how the handler uses it.</summary>
public class FragmentMemoryTests
{
    private const string Path = "/dir/file.bin";
    private const int MiB = 1024 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const int KiB = 1024;

    [Fact]
    public async Task Acquire_WithinLimit_IsImmediate_AndGivesBufferOfTheLength()
    {
        var memory = new BitsFragmentMemory(64 * KiB);

        using (var a = await memory.TryAcquireAsync(20 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))
        using (var b = await memory.TryAcquireAsync(32 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))
        {
            Assert.Equal(20 * KiB, a!.Memory.Length);
            Assert.Equal(32 * KiB, a.ChargedBytes); // the next power of two
            Assert.Equal(32 * KiB, b!.Memory.Length);
            Assert.Equal(64 * KiB, memory.LeasedBytes);
        }

        Assert.Equal(0, memory.LeasedBytes);
    }

    [Fact]
    public async Task BuffersGivenBackWhileFragmentsWait_GoToTheWaiters_NoNewAllocations()
    {
        // Four leases fill the limit and four more wait. Two come back one right after the other, before the first
        // waiter's continuation has run: each buffer must go to a waiter, not be dropped for a fresh allocation.
        var memory = new BitsFragmentMemory(64 * KiB);
        var held = new List<BitsFragmentMemory.Lease>();
        for (var i = 0; i < 4; i++)
        {
            held.Add((await memory.TryAcquireAsync(16 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))!);
        }

        var waiting = Enumerable.Range(0, 4).Select(_ => memory.TryAcquireAsync(16 * KiB, TimeSpan.FromSeconds(30), TimeProvider.System, Ct).AsTask()).ToList();
        held[0].Dispose();
        held[1].Dispose();
        var granted = await Task.WhenAll(waiting.Take(2));
        held[2].Dispose();
        held[3].Dispose();
        granted = [.. granted, .. await Task.WhenAll(waiting.Skip(2))];

        Assert.Equal(4, memory.AllocatedBuffers);
        Assert.Equal(64 * KiB, memory.LeasedBytes);
        foreach (var lease in granted)
        {
            lease!.Dispose();
        }

        Assert.Equal(0, memory.LeasedBytes);
        Assert.Equal(64 * KiB, memory.KeptBytes);
        Assert.Equal(4, memory.AllocatedBuffers);
    }

    [Theory]
    [InlineData(1, 4 * KiB)]
    [InlineData(5000, 8 * KiB)]
    [InlineData(MiB, MiB)]
    [InlineData(MiB + 1, 2 * MiB)]
    [InlineData(13_000_000, 13 * MiB)]
    [InlineData(13 * MiB, 13 * MiB)]
    [InlineData((13 * MiB) + 1, 14 * MiB)]
    [InlineData(100 * MiB, 100 * MiB)]
    public void SizeClasses_ArePowersOfTwoUpTo1MiB_ThenWholeMiB(int length, long expected)
    {
        Assert.Equal(expected, BitsFragmentMemory.BufferBytesFor(length));
    }

    [Fact]
    public async Task Acquire_OverLimit_WaitsInOrderUntilEarlierLeasesEnd()
    {
        var memory = new BitsFragmentMemory(64 * KiB);
        var first = await memory.TryAcquireAsync(40 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct);
        var big = memory.TryAcquireAsync(60 * KiB, TimeSpan.FromSeconds(30), TimeProvider.System, Ct).AsTask();
        var small = memory.TryAcquireAsync(4 * KiB, TimeSpan.FromSeconds(30), TimeProvider.System, Ct).AsTask();

        Assert.Equal(2, memory.WaitingCount);
        Assert.False(big.IsCompleted);
        Assert.False(small.IsCompleted); // fits, but queues behind the bigger one: first come, first served

        first!.Dispose();
        using var bigLease = await big;
        Assert.False(small.IsCompleted);
        bigLease!.Dispose();
        using var smallLease = await small;
        Assert.Equal(4 * KiB, memory.LeasedBytes);
    }

    [Fact]
    public async Task Acquire_TimesOut_ReturnsNullAndLeavesTheQueue()
    {
        var time = new FakeTimeProvider();
        var memory = new BitsFragmentMemory(64 * KiB);
        var held = await memory.TryAcquireAsync(64 * KiB, TimeSpan.FromSeconds(1), time, Ct);
        var waiting = memory.TryAcquireAsync(4 * KiB, TimeSpan.FromSeconds(30), time, Ct).AsTask();

        time.Advance(TimeSpan.FromSeconds(31));

        Assert.Null(await waiting);
        held!.Dispose();
        Assert.Equal(0, memory.LeasedBytes);
    }

    [Fact]
    public async Task Holders_ThatFillTheLimit_AndAllWaitForTheirNextChunk_AreServedOneAtATime_NotAfterTheirTimeIsUp()
    {
        // Three bodies hold the whole limit between them; b runs over it; c then waits for a chunk larger than what b
        // holds within the limit. When b ends, what it gives back is not enough for c's chunk: c must become the next
        // runner then, not wait until its time is up (the bench's 16 x 13 MiB probe got 503s this way).
        var time = new FakeTimeProvider();
        var memory = new BitsFragmentMemory(64 * KiB);
        object b = new(), c = new(), d = new();
        var cFirst = await memory.TryAcquireAsync(32 * KiB, null, TimeSpan.FromSeconds(30), time, Ct);
        var dFirst = await memory.TryAcquireAsync(16 * KiB, null, TimeSpan.FromSeconds(30), time, Ct);
        var bFirst = await memory.TryAcquireAsync(16 * KiB, null, TimeSpan.FromSeconds(30), time, Ct);
        var bNext = await memory.TryAcquireAsync(32 * KiB, b, TimeSpan.FromSeconds(30), time, Ct);
        var cNext = memory.TryAcquireAsync(32 * KiB, c, TimeSpan.FromSeconds(30), time, Ct).AsTask();
        Assert.NotNull(bNext);
        Assert.False(cNext.IsCompleted);

        memory.EndRun(b);
        bNext!.Dispose();
        bFirst!.Dispose();

        // The fake clock never moves, so c's 30 s never pass: only a grant can end this wait (10 s real time: a hang guard).
        using var cSecond = await cNext.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.NotNull(cSecond);
        memory.EndRun(c);
        cFirst!.Dispose();
        dFirst!.Dispose();
        _ = d;
    }

    [Fact]
    public async Task BuffersOfTheBodyRunningOverTheLimit_AreKeptForTheNextRun_NoNewAllocations()
    {
        // Two bodies fill the limit; one runs over it by two chunks. With a reserve for the run, every buffer given
        // back is kept, so the same pattern again allocates nothing (without it, the run's buffers were dropped each
        // time for the collector and new ones allocated: 289 MiB peak RSS at 16 x 13 MiB fragments).
        var memory = new BitsFragmentMemory(64 * KiB, runReserveBytes: 32 * KiB);
        async Task RunOverTheLimitAsync()
        {
            object x = new(), y = new();
            var held = new List<BitsFragmentMemory.Lease>
            {
                (await memory.TryAcquireAsync(32 * KiB, x, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))!,
                (await memory.TryAcquireAsync(32 * KiB, y, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))!,
                (await memory.TryAcquireAsync(16 * KiB, x, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))!,
                (await memory.TryAcquireAsync(16 * KiB, x, TimeSpan.FromSeconds(1), TimeProvider.System, Ct))!,
            };
            Assert.Equal(96 * KiB, memory.LeasedBytes); // x ran over the limit
            memory.EndRun(x);
            foreach (var lease in held)
            {
                lease.Dispose();
            }
        }

        await RunOverTheLimitAsync();
        var allocated = memory.AllocatedBuffers;
        Assert.Equal(96 * KiB, memory.KeptBytes);

        await RunOverTheLimitAsync();
        await RunOverTheLimitAsync();

        Assert.Equal(allocated, memory.AllocatedBuffers);
        Assert.Equal(0, memory.LeasedBytes);
        Assert.Equal(96 * KiB, memory.KeptBytes); // never more than the limit plus the reserve
    }

    [Fact]
    public void RunReserve_CoversTheLargestBody_InWholeChunks()
    {
        Assert.Equal(16 * KiB, BitsFragmentBody.MaxHeldBytes(10 * KiB));
        Assert.Equal(64 * KiB + 13 * MiB, BitsFragmentBody.MaxHeldBytes(13 * MiB));
        Assert.Equal(64 * KiB + 16 * MiB, BitsFragmentBody.MaxHeldBytes(16 * MiB));
    }

    [Fact]
    public async Task Acquire_LargerThanTheLimit_RunsAlone()
    {
        var memory = new BitsFragmentMemory(64 * KiB);

        using var lease = await memory.TryAcquireAsync(100 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct);

        Assert.Equal(100 * KiB, lease!.Memory.Length);
        Assert.Equal(64 * KiB, lease.ChargedBytes);
        Assert.Equal(64 * KiB, memory.LeasedBytes);
    }

    [Fact]
    public async Task Buffers_AreReusedByAnyThread_AndLeasedPlusKeptNeverExceedsTheLimit()
    {
        var memory = new BitsFragmentMemory(64 * KiB);
        var first = await memory.TryAcquireAsync(30 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct);
        first!.Memory.Span[0] = 42;
        first.Dispose();

        var again = await Task.Run(async () => await memory.TryAcquireAsync(32 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct), Ct);
        Assert.Equal(42, again!.Memory.Span[0]); // the same buffer, on another thread
        again.Dispose();
        Assert.Equal(32 * KiB, memory.KeptBytes);

        using var other = await memory.TryAcquireAsync(64 * KiB, TimeSpan.FromSeconds(1), TimeProvider.System, Ct);
        Assert.Equal(64 * KiB, memory.LeasedBytes);
        Assert.Equal(0, memory.KeptBytes); // the kept 32 KiB buffer was dropped to make room
    }

    [Fact]
    public async Task Fragment_WhileMemoryIsFull_WaitsThenGets503_AndTheHolderCompletes()
    {
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = MiB });
        var file = SeededStream.Bytes(2 * MiB);
        var first = await harness.CreateSessionAsync(Path);
        var second = await harness.CreateSessionAsync("/dir/other.bin");
        var gate = new GatedStream(file.AsMemory(0, MiB).ToArray(), openBytes: MiB - 1); // holds the whole budget
        var holding = harness.SendAsync(WithBody(BitsRequests.Fragment(Path, first, file, 0, MiB), gate));
        await gate.Reading.WaitAsync(Ct);

        var queued = NextQueuedAsync(harness);
        var waiting = harness.SendAsync(BitsRequests.Fragment("/dir/other.bin", second, file, 0, MiB));
        await QueuedAsync(harness, queued);
        Assert.False(waiting.IsCompleted);
        harness.Time.Advance(TimeSpan.FromSeconds(31));
        var busy = await waiting;
        gate.Open();
        var held = await holding;

        AckAssert.IsError(busy, 503, BitsHResults.BG_E_HTTP_ERROR_503);
        AckAssert.IsAck(held, 200);
        AckAssert.Received(held, MiB);
    }

    [Fact]
    public async Task Fragment_WaitingForMemory_AppendsOnceTheHolderIsDone()
    {
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = MiB });
        var file = SeededStream.Bytes(2 * MiB);
        var id = await harness.CreateSessionAsync(Path);
        var other = await harness.CreateSessionAsync("/dir/other.bin");
        var gate = new GatedStream(file.AsMemory(0, MiB).ToArray(), openBytes: MiB - 1); // holds the whole budget
        var holding = harness.SendAsync(WithBody(BitsRequests.Fragment("/dir/other.bin", other, file, 0, MiB), gate));
        await gate.Reading.WaitAsync(Ct);

        var queued = NextQueuedAsync(harness);
        var waiting = harness.SendAsync(BitsRequests.Fragment(Path, id, file, 0, MiB));
        await QueuedAsync(harness, queued);
        Assert.False(waiting.IsCompleted);
        gate.Open();
        await holding;
        var ack = await waiting;

        AckAssert.IsAck(ack, 200);
        AckAssert.Received(ack, MiB);
    }

    [Fact]
    public async Task Fragment_ForUnknownSession_IsRefusedAtOnce_WithoutTakingFragmentMemory()
    {
        // The whole budget is held by a fragment whose last byte has not arrived. A packet for an unknown session must not
        // queue for memory (nor read its body): it is refused at once, so such packets cannot crowd out real uploads.
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = MiB });
        var file = SeededStream.Bytes(MiB);
        var id = await harness.CreateSessionAsync(Path);
        var holderBody = new GatedStream(file, openBytes: MiB - 1);
        var holding = harness.SendAsync(WithBody(BitsRequests.Fragment(Path, id, file, 0, MiB), holderBody));
        await holderBody.Reading.WaitAsync(Ct);

        var strangerBody = new GatedStream(file);
        var ack = await harness.SendAsync(WithBody(BitsRequests.Fragment(Path, "{6B29FC40-CA47-1067-B31D-00DD010662DA}", file, 0, MiB), strangerBody))
            .WaitAsync(TimeSpan.FromSeconds(10), Ct);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.False(strangerBody.Reading.IsCompleted);
        holderBody.Open();
        AckAssert.Received(await holding, MiB);
    }

    [Fact]
    public async Task Fragment_DeclaringMoreThanIsFree_LeasesOnlyWhatArrived_AndCompletesOnceTheBodyIsIn()
    {
        // Issue 12, point 5: a fragment that declares the whole budget and stalls after a few bytes holds one chunk.
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = MiB });
        var file = SeededStream.Bytes(MiB);
        var id = await harness.CreateSessionAsync(Path);
        var stalled = new GatedStream(file, openBytes: 100);
        var stalling = harness.SendAsync(WithBody(BitsRequests.Fragment(Path, id, file, 0, MiB), stalled));
        await stalled.Reading.WaitAsync(Ct);

        Assert.Equal(BitsFragmentBody.FirstChunkBytes, harness.Handler.FragmentMemory.LeasedBytes);
        var other = await harness.CreateSessionAsync("/dir/other.bin");
        var ack = await harness.FragmentAsync("/dir/other.bin", other, file, 0, 512 * KiB);
        AckAssert.IsAck(ack, 200);
        AckAssert.Received(ack, 512 * KiB);

        stalled.Open();
        AckAssert.Received(await stalling, MiB);
        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, id)), 200);
        Assert.Equal(file, harness.Store.Published["dir/file.bin"]);
        Assert.Equal(0, harness.Handler.FragmentMemory.LeasedBytes);
    }

    [Fact]
    public async Task Fragment_WhoseBodyIsSlow_StillGetsTheWholeWaitForMemory_TimeReceivingDoesNotCount()
    {
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = MiB });
        var file = SeededStream.Bytes(2 * MiB);

        // S, a slow client, has sent its first bytes; R takes over the limit (the runner) and stalls before its last chunk.
        var s = await harness.CreateSessionAsync("/dir/s.bin");
        var sBody = new GatedStream(file.AsMemory(0, MiB).ToArray(), openBytes: BitsFragmentBody.FirstChunkBytes);
        var sAck = harness.SendAsync(WithBody(BitsRequests.Fragment("/dir/s.bin", s, file, 0, MiB), sBody));
        await sBody.Reading.WaitAsync(Ct);
        var r = await harness.CreateSessionAsync(Path);
        var rBody = new GatedStream(file, openBytes: MiB + (64 * KiB));
        var rAck = harness.SendAsync(WithBody(BitsRequests.Fragment(Path, r, file, 0, 2 * MiB), rBody));
        await rBody.Reading.WaitAsync(Ct);

        // S's client took 40 s for its bytes so far; its next chunk must queue behind the runner. Time spent receiving is
        // not time spent waiting for memory: S waits (it is not refused at once) and gets through when R is in.
        harness.Time.Advance(TimeSpan.FromSeconds(40));
        var queued = NextQueuedAsync(harness);
        sBody.Open();
        await QueuedAsync(harness, queued);
        rBody.Open();

        AckAssert.Received(await rAck, 2 * MiB);
        var sDone = await sAck;
        AckAssert.IsAck(sDone, 200);
        AckAssert.Received(sDone, MiB);
        Assert.Equal(0, harness.Handler.FragmentMemory.LeasedBytes);
    }

    [Fact]
    public async Task Fragment_HoldingChunks_ThatGetsNoMoreWithinTheWait_Gets503_AndGivesEverythingBack()
    {
        var harness = new HandlerHarness(new BitsServerOptions { FragmentMemoryBytes = MiB });
        var memory = harness.Handler.FragmentMemory;
        var file = SeededStream.Bytes(2 * MiB);

        // B holds its first chunk (64 KiB) and waits for its client.
        var b = await harness.CreateSessionAsync("/dir/b.bin");
        var bBody = new GatedStream(file.AsMemory(0, MiB).ToArray(), openBytes: BitsFragmentBody.FirstChunkBytes);
        var bAck = harness.SendAsync(WithBody(BitsRequests.Fragment("/dir/b.bin", b, file, 0, MiB), bBody));
        await bBody.Reading.WaitAsync(Ct);

        // A takes 64 KiB, runs short for its 1 MiB chunk and runs on over the limit instead of waiting for B (which may
        // be waiting for A); it stalls before its last chunk.
        var a = await harness.CreateSessionAsync(Path);
        var aBody = new GatedStream(file, openBytes: MiB + 64 * KiB);
        var aAck = harness.SendAsync(WithBody(BitsRequests.Fragment(Path, a, file, 0, 2 * MiB), aBody));
        await aBody.Reading.WaitAsync(Ct);
        Assert.Equal((2 * BitsFragmentBody.FirstChunkBytes) + MiB, memory.LeasedBytes);

        // B's next bytes arrive, but there is no room for its next chunk and A is the one running over: B waits.
        var queued = NextQueuedAsync(harness);
        bBody.Open();
        await QueuedAsync(harness, queued);
        harness.Time.Advance(TimeSpan.FromSeconds(31));
        AckAssert.IsError(await bAck, 503, BitsHResults.BG_E_HTTP_ERROR_503);
        Assert.Equal(BitsFragmentBody.FirstChunkBytes + MiB, memory.LeasedBytes); // B gave its chunk back; A's are left

        aBody.Open();
        var aDone = await aAck;
        AckAssert.IsAck(aDone, 200);
        AckAssert.Received(aDone, 2 * MiB);
        Assert.Equal(0, memory.LeasedBytes);
        Assert.Equal(0, memory.WaitingCount);
    }

    /// <summary>Completes when the next fragment waits for memory (it queues after its session read, which may yield).</summary>
    private static Task NextQueuedAsync(HandlerHarness harness)
    {
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Handler.FragmentMemory.Queued += () => queued.TrySetResult();
        return queued.Task;
    }

    /// <summary>Waits for <paramref name="queued"/> (10 s hang guard): then exactly one fragment waits, its timeout timer set.</summary>
    private static async Task QueuedAsync(HandlerHarness harness, Task queued)
    {
        await queued.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(1, harness.Handler.FragmentMemory.WaitingCount);
    }

    private static BitsRequest WithBody(BitsRequest request, Stream body) => new()
    {
        Method = request.Method,
        RawPath = request.RawPath,
        PacketType = request.PacketType,
        SessionId = request.SessionId,
        ContentRange = request.ContentRange,
        ContentName = request.ContentName,
        ContentLength = request.ContentLength,
        User = request.User,
        Body = body,
    };

    /// <summary>
    /// A body whose first <c>openBytes</c> bytes arrive at once and the rest only when the test opens the gate (a slow
    /// client); <see cref="Reading"/> completes when the reader waits at the gate.
    /// </summary>
    private sealed class GatedStream(byte[] content, int openBytes = 0) : Stream
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _position;

        public Task Reading => _reading.Task;

        public bool WasCancelled { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => content.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public void Open() => _open.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position < openBytes)
            {
                var open = Math.Min(buffer.Length, openBytes - _position);
                content.AsMemory(_position, open).CopyTo(buffer);
                _position += open;
                return open;
            }

            _reading.TrySetResult();
            try
            {
                await _open.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                WasCancelled = true;
                throw;
            }

            var count = Math.Min(buffer.Length, content.Length - _position);
            content.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
