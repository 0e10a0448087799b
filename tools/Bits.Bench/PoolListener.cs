using System.Diagnostics.Tracing;

namespace Bits.Bench;

/// <summary>
/// Counts the arrays the shared <see cref="System.Buffers.ArrayPool{T}"/> had to allocate (event BufferAllocated of
/// System.Buffers.ArrayPoolEventSource): a pooled buffer that is really reused allocates nothing.
/// </summary>
public sealed class PoolListener : EventListener
{
    private long _allocations;
    private long _bytes;

    public long Allocations => Interlocked.Read(ref _allocations);

    public long Bytes => Interlocked.Read(ref _bytes);

    public (long Allocations, long Bytes) Take() => (Interlocked.Exchange(ref _allocations, 0), Interlocked.Exchange(ref _bytes, 0));

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "System.Buffers.ArrayPoolEventSource")
        {
            EnableEvents(eventSource, EventLevel.Informational);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        // BufferAllocated(int bufferId, int bufferSize, int poolId, int bucketId, BufferAllocatedReason reason)
        if (eventData.EventName == "BufferAllocated" && eventData.Payload is { Count: >= 2 } payload && payload[1] is int size && size >= 64 * 1024)
        {
            if (Environment.GetEnvironmentVariable("BENCH_POOL_TRACE") == "1")
            {
                Console.Error.WriteLine($"pool alloc {size} reason {payload[4]} pool {payload[2]} thread {Environment.CurrentManagedThreadId}\n{Environment.StackTrace}");
            }

            Interlocked.Increment(ref _allocations);
            Interlocked.Add(ref _bytes, size);
        }
    }
}
