using Microsoft.Extensions.Time.Testing;

namespace Bits.Testing;

/// <summary>
/// Controls how far a <c>BITS-Copy-File-To-Destination</c> copy gets in one request, without sleeps: it lets a set number
/// of copy ranges through and holds the next one until that range's token is cancelled (the request's copy budget, on
/// a fake clock). Used by the in-memory store (<see cref="InMemoryBitsUploadStore.CopyRangeGate"/>) and by a storage
/// pipeline policy on Put Block From URL.
/// </summary>
public sealed class CopyGate
{
    private int _allowed;
    private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a range is held: the copy is waiting for its budget to run out.</summary>
    public Task Held => Volatile.Read(ref _held).Task;

    /// <summary>Lets the next <paramref name="ranges"/> ranges through, then holds.</summary>
    public void Allow(int ranges)
    {
        Volatile.Write(ref _held, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Volatile.Write(ref _allowed, ranges);
    }

    /// <summary>Returns at once for an allowed range; otherwise signals <see cref="Held"/> and waits for cancellation.</summary>
    public async Task PassAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Decrement(ref _allowed) >= 0)
        {
            return;
        }

        Volatile.Read(ref _held).TrySetResult();
        await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Sends a request whose copy may stage <paramref name="ranges"/> ranges. Once a range is held, the clock moves to
    /// one tick before <paramref name="budget"/> (the request must still be waiting) and then to the budget, which must
    /// end the request: its Ack is returned (the real-time bound only turns a hang into a failure). A request that
    /// answers without holding a range is returned as it is, the clock unmoved.
    /// </summary>
    public async Task<T> WithinBudgetAsync<T>(int ranges, Func<Task<T>> send, FakeTimeProvider time, TimeSpan budget, CancellationToken cancellationToken)
    {
        Allow(ranges);
        var pending = send();
        if (await Task.WhenAny(Held, pending).WaitAsync(cancellationToken) != pending)
        {
            time.Advance(budget - TimeSpan.FromTicks(1));
            Assert.False(pending.IsCompleted, "the request answered while a range of its copy was held, before its budget ran out");
            time.Advance(TimeSpan.FromTicks(1));
        }

        return await pending.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
    }
}
