namespace Bits.Protocol;

/// <summary>
/// The buffers Fragment bodies are read into, bounded per process by <see cref="BitsServerOptions.FragmentMemoryBytes"/>.
/// <list type="bullet">
/// <item>A Fragment body is read in chunks (<see cref="BitsFragmentBody"/>: 64 KiB, then 1 MiB chunks), each leased as
/// a buffer of its size class (the next power of two from 4 KiB to 1 MiB, then the next whole MiB) only once bytes
/// are there to fill it, and all given back after the append. A lease that does not fit under the limit waits, first
/// come first served (the TCP connection holds the rest of the body meanwhile), except that the first body already
/// holding chunks that would have to wait runs on over the limit instead (one at a time), so bodies holding part of
/// the limit never wait for each other.</item>
/// <item>Returned buffers are kept for the next Fragment of the same class, by whichever thread: leased plus kept bytes
/// never exceed the limit plus <see cref="RunReserveBytes"/>, room for what the body running over the limit holds
/// (kept buffers of other classes are dropped first). Unlike the shared <c>ArrayPool</c>, which caches a buffer per
/// thread, this keeps the host's buffer memory at that bound however many threads and connections there are; and
/// because the run's buffers are kept too, the next run reuses them instead of allocating new ones while the old
/// ones wait on the large-object heap for a full collection (peak RSS 289 MiB at 16 x 13 MiB fragments without the
/// reserve, docs/performance.md).</item>
/// </list>
/// </summary>
public sealed class BitsFragmentMemory
{
    /// <summary>The smallest buffer handed out.</summary>
    public const int MinimumBufferBytes = 4096;

    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly SortedDictionary<long, Stack<byte[]>> _kept = new();
    private long _leased;
    private long _keptBytes;
    private long _allocated;
    private object? _runner;

    /// <param name="limitBytes">The bound on leased bytes.</param>
    /// <param name="runReserveBytes">What one body running over the limit may hold beyond it (the largest Fragment):
    /// returned buffers are kept up to the limit plus this.</param>
    public BitsFragmentMemory(long limitBytes, long runReserveBytes = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limitBytes, MinimumBufferBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(runReserveBytes);
        LimitBytes = limitBytes;
        RunReserveBytes = runReserveBytes;
    }

    public long LimitBytes { get; }

    /// <summary>Room beyond <see cref="LimitBytes"/> for the buffers of the body running over the limit, kept for the next run.</summary>
    public long RunReserveBytes { get; }

    /// <summary>Leased plus kept bytes never exceed this.</summary>
    private long KeepLimit => LimitBytes + RunReserveBytes;

    /// <summary>Bytes of the buffers currently leased (as charged against the limit).</summary>
    public long LeasedBytes
    {
        get
        {
            lock (_lock)
            {
                return _leased;
            }
        }
    }

    /// <summary>Bytes of returned buffers kept for reuse.</summary>
    public long KeptBytes
    {
        get
        {
            lock (_lock)
            {
                return _keptBytes;
            }
        }
    }

    /// <summary>Above this, size classes are whole multiples of it instead of powers of two.</summary>
    public const int LargeClassStep = 1024 * 1024;

    /// <summary>Fragments waiting for room now.</summary>
    public int WaitingCount
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    /// <summary>Raised when a lease starts to wait for room (tests wait for it instead of polling <see cref="WaitingCount"/>).</summary>
    internal event Action? Queued;

    /// <summary>Buffers allocated so far (a steady stream of one size class allocates none after the first few).</summary>
    public long AllocatedBuffers
    {
        get
        {
            lock (_lock)
            {
                return _allocated;
            }
        }
    }

    /// <summary>The buffer size a body of <paramref name="length"/> bytes gets.</summary>
    public static long BufferBytesFor(int length) => length <= LargeClassStep
        ? (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, MinimumBufferBytes))
        : ((length + (long)LargeClassStep - 1) / LargeClassStep) * LargeClassStep;

    /// <summary>
    /// Leases a buffer for <paramref name="length"/> bytes, waiting up to <paramref name="timeout"/> on
    /// <paramref name="time"/> for room. Returns null when the time is up; dispose the lease to give the buffer back.
    /// </summary>
    public ValueTask<Lease?> TryAcquireAsync(int length, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        TryAcquireAsync(length, holder: null, timeout, time, cancellationToken);

    /// <summary>
    /// Leases the next chunk of a body that already holds memory (<paramref name="holder"/>, null for a first lease).
    /// Chunked bodies could otherwise fill the limit and wait for each other until their time is up; so the first
    /// holder that would have to wait becomes the runner instead: it gets its chunks at once, over the limit if need
    /// be, until <see cref="EndRun"/>. At most one body runs at a time, so leased bytes stay below the limit plus one
    /// fragment, and every wait ends when the runner's body is in.
    /// </summary>
    internal async ValueTask<Lease?> TryAcquireAsync(int length, object? holder, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var size = BufferBytesFor(length);
        var charge = Math.Min(size, LimitBytes);
        Waiter waiter;
        LinkedListNode<Waiter> node;
        lock (_lock)
        {
            var fits = _waiters.Count == 0 && _leased + charge <= LimitBytes;
            if (!fits && holder is not null && (_runner ?? holder) == holder)
            {
                _runner = holder;
                fits = true;
            }

            if (fits)
            {
                _leased += charge;
                return new Lease(this, TakeBufferOrUncharge(size, charge), length, charge);
            }

            waiter = new Waiter(charge, size, holder);
            node = _waiters.AddLast(waiter);
        }

        try
        {
            var granted = waiter.Granted.Task.WaitAsync(timeout, time, cancellationToken);
            Queued?.Invoke(); // after the wait's timer exists, so a test that advances its clock past it ends the wait
            await granted;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_lock)
            {
                if (node.List is not null)
                {
                    // Still queued: leave the queue, and let the ones behind move up.
                    _waiters.Remove(node);
                }
                else if (waiter.Buffer is { } granted)
                {
                    // Granted (with a buffer) just as the wait ended: give both back. (A grant whose allocation failed
                    // has no buffer and no charge left.)
                    ReturnLocked(granted, charge);
                }

                GrantWaiters();
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            return null;
        }

        return new Lease(this, waiter.Buffer!, length, charge);
    }

    /// <summary>Ends <paramref name="holder"/>'s run (see <see cref="TryAcquireAsync(int, object?, TimeSpan, TimeProvider, CancellationToken)"/>), if it is the runner.</summary>
    internal void EndRun(object holder)
    {
        lock (_lock)
        {
            if (_runner == holder)
            {
                _runner = null;
                GrantWaiters();
            }
        }
    }

    /// <summary>A buffer for a lease already charged; when none can be allocated, the charge is undone (under the lock).</summary>
    private byte[] TakeBufferOrUncharge(long size, long charge)
    {
        try
        {
            return TakeBuffer(size);
        }
        catch (OutOfMemoryException)
        {
            _leased -= charge;
            throw;
        }
    }

    /// <summary>A kept buffer of <paramref name="size"/>, else a new one after dropping kept buffers down to the keep limit (under the lock).</summary>
    private byte[] TakeBuffer(long size)
    {
        if (_kept.TryGetValue(size, out var stack) && stack.TryPop(out var kept))
        {
            _keptBytes -= size;
            return kept;
        }

        while (_keptBytes > 0 && _leased + _keptBytes > KeepLimit)
        {
            var largest = _kept.Last(k => k.Value.Count > 0);
            largest.Value.Pop();
            _keptBytes -= largest.Key;
        }

        _allocated++;
        return GC.AllocateUninitializedArray<byte>(checked((int)size));
    }

    private void Return(byte[] buffer, long charge)
    {
        lock (_lock)
        {
            ReturnLocked(buffer, charge);
            GrantWaiters();
        }
    }

    /// <summary>Ends a lease's charge and keeps its buffer when leased plus kept bytes stay within the keep limit (under the lock).</summary>
    private void ReturnLocked(byte[] buffer, long charge)
    {
        _leased -= charge;
        if (buffer.Length <= LimitBytes && _leased + _keptBytes + buffer.Length <= KeepLimit)
        {
            if (!_kept.TryGetValue(buffer.Length, out var stack))
            {
                _kept[buffer.Length] = stack = new Stack<byte[]>();
            }

            stack.Push(buffer);
            _keptBytes += buffer.Length;
        }
    }

    /// <summary>
    /// Grants queued leases in order while they fit, each with its buffer taken right here (called under the lock).
    /// Taking the buffer at the grant, not later on the waiter's thread, is what lets a buffer just given back go
    /// straight to the next fragment: otherwise a second return before the first waiter ran would find the limit
    /// full of granted-but-empty leases, drop its buffer as garbage, and the next waiter would allocate a new one
    /// (the large-object heap then held dropped buffers until a full collection: 100 MiB and more of peak RSS).
    /// </summary>
    private void GrantWaiters()
    {
        while (_waiters.First is { } first && _leased + first.Value.Charge <= LimitBytes)
        {
            _waiters.RemoveFirst();
            Grant(first.Value);
        }

        // Bodies holding part of the limit may all be queued for their next chunk, with nothing left to give back but
        // what they hold: with no runner, the first of them becomes the runner (over the limit, one at a time), so a
        // wait always ends when some body is in, never when its time is up.
        if (_runner is null && _waiters.First is not null)
        {
            for (var node = _waiters.First; node is not null; node = node.Next)
            {
                if (node.Value.Holder is { } holder)
                {
                    _waiters.Remove(node);
                    _runner = holder;
                    Grant(node.Value);
                    break;
                }
            }
        }
    }

    /// <summary>Charges a queued lease and hands it its buffer (under the lock).</summary>
    private void Grant(Waiter waiter)
    {
        _leased += waiter.Charge;
        try
        {
            waiter.Buffer = TakeBufferOrUncharge(waiter.Size, waiter.Charge);
        }
        catch (OutOfMemoryException ex)
        {
            waiter.Granted.TrySetException(ex);
            return;
        }

        waiter.Granted.TrySetResult();
    }

    /// <summary>A leased buffer; disposing it gives the buffer back and wakes waiting fragments.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly byte[] _buffer;
        private BitsFragmentMemory? _owner;

        internal Lease(BitsFragmentMemory owner, byte[] buffer, int length, long charge)
        {
            _owner = owner;
            _buffer = buffer;
            Length = length;
            ChargedBytes = charge;
        }

        /// <summary>The requested length; <see cref="Memory"/> is exactly this long.</summary>
        public int Length { get; }

        /// <summary>What the lease counts against the limit (its buffer's size, at most the limit).</summary>
        public long ChargedBytes { get; }

        public Memory<byte> Memory => _buffer.AsMemory(0, Length);

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Return(_buffer, ChargedBytes);
    }

    private sealed record Waiter(long Charge, long Size, object? Holder)
    {
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set under the lock when the lease is granted.</summary>
        public byte[]? Buffer { get; set; }
    }
}
