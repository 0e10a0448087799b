namespace Bits.Protocol;

/// <summary>
/// A process-wide bound on the memory that Fragment bodies hold while they are received and appended
/// (<see cref="BitsServerOptions.FragmentMemoryBytes"/>). Each Fragment is read into one pooled buffer, so without a
/// bound N concurrent fragments of 16 MiB hold N × 16 MiB; with it, a Fragment that does not fit waits (first come,
/// first served) until earlier ones are appended, and the TCP connection holds the rest of its body meanwhile.
/// </summary>
public sealed class BitsFragmentMemory
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _inUse;

    public BitsFragmentMemory(long limitBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limitBytes, 1);
        LimitBytes = limitBytes;
    }

    public long LimitBytes { get; }

    /// <summary>Bytes currently reserved.</summary>
    public long InUseBytes
    {
        get
        {
            lock (_lock)
            {
                return _inUse;
            }
        }
    }

    /// <summary>
    /// Reserves <paramref name="bytes"/> (at most the whole limit, so one oversized request can still run alone), waiting
    /// up to <paramref name="timeout"/> on <paramref name="time"/>. Returns null when the time is up; dispose the lease to
    /// give the bytes back.
    /// </summary>
    public async ValueTask<Lease?> TryAcquireAsync(long bytes, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var amount = Math.Clamp(bytes, 0, LimitBytes);
        Waiter waiter;
        LinkedListNode<Waiter> node;
        lock (_lock)
        {
            if (_waiters.Count == 0 && _inUse + amount <= LimitBytes)
            {
                _inUse += amount;
                return new Lease(this, amount);
            }

            waiter = new Waiter(amount);
            node = _waiters.AddLast(waiter);
        }

        try
        {
            await waiter.Granted.Task.WaitAsync(timeout, time, cancellationToken);
            return new Lease(this, amount);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_lock)
            {
                if (node.List is not null)
                {
                    // Still queued: leave the queue, and let the ones behind move up.
                    _waiters.Remove(node);
                    GrantWaiters();
                }
                else
                {
                    // Granted just as the wait ended: give the bytes back.
                    _inUse -= amount;
                    GrantWaiters();
                }
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            return null;
        }
    }

    private void Release(long amount)
    {
        lock (_lock)
        {
            _inUse -= amount;
            GrantWaiters();
        }
    }

    /// <summary>Grants queued requests in order while they fit (called under the lock).</summary>
    private void GrantWaiters()
    {
        while (_waiters.First is { } first && _inUse + first.Value.Bytes <= LimitBytes)
        {
            _waiters.RemoveFirst();
            _inUse += first.Value.Bytes;
            first.Value.Granted.TrySetResult();
        }
    }

    /// <summary>A reservation; disposing it returns the bytes and wakes waiting fragments.</summary>
    public sealed class Lease : IDisposable
    {
        private BitsFragmentMemory? _owner;

        internal Lease(BitsFragmentMemory owner, long bytes)
        {
            _owner = owner;
            Bytes = bytes;
        }

        public long Bytes { get; }

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release(Bytes);
    }

    private sealed record Waiter(long Bytes)
    {
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
