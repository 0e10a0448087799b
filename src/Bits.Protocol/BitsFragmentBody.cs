using System.Buffers;

namespace Bits.Protocol;

/// <summary>
/// A Fragment body read into <see cref="BitsFragmentMemory"/> in chunks, each leased only once bytes are there to fill
/// it (issue 12, point 5): 64 KiB first, then 1 MiB chunks (the last one leased as a whole 1 MiB size class too, so buffers are reused exactly). A client
/// that declares a large <c>Content-Length</c> and trickles or stalls holds at most what it sent plus one chunk, not what
/// it declared.
/// The chunks stay separate (<see cref="Bytes"/>); disposing gives them all back. A body that already holds chunks
/// never waits for the others' bodies while they wait for it: the first such body to run short runs on over the limit
/// (see <see cref="BitsFragmentMemory"/>).
/// </summary>
internal sealed class BitsFragmentBody : IDisposable
{
    /// <summary>The first chunk; every later one is <see cref="MaxChunkBytes"/>.</summary>
    public const int FirstChunkBytes = 64 * 1024;

    /// <summary>The largest chunk (one size class of <see cref="BitsFragmentMemory"/>, so chunks are reused exactly).</summary>
    public const int MaxChunkBytes = BitsFragmentMemory.LargeClassStep;

    private readonly List<BitsFragmentMemory.Lease> _chunks = [];

    /// <summary>The most a body of at most <paramref name="maxFragmentBytes"/> holds in chunks (each leased as a whole class).</summary>
    public static long MaxHeldBytes(long maxFragmentBytes) => maxFragmentBytes <= FirstChunkBytes
        ? BitsFragmentMemory.BufferBytesFor((int)maxFragmentBytes)
        : FirstChunkBytes + (((maxFragmentBytes - FirstChunkBytes + MaxChunkBytes - 1) / MaxChunkBytes) * MaxChunkBytes);
    private BitsFragmentMemory? _memory;

    /// <summary>The bytes read, one segment per chunk.</summary>
    public ReadOnlySequence<byte> Bytes { get; private set; } = ReadOnlySequence<byte>.Empty;

    /// <summary>
    /// Reads exactly <paramref name="length"/> bytes of <paramref name="body"/>. Each chunk is leased after the body
    /// has bytes for it, waiting for room at most <paramref name="wait"/> in all (time queued for memory on
    /// <paramref name="time"/>; time spent receiving a slow body does not count). Returns false when a chunk got no memory in time (the caller answers 503 and disposes);
    /// a body that ends early or breaks is returned as <paramref name="failure"/>, not thrown.
    /// </summary>
    public async Task<(bool Leased, Exception? Failure)> ReadAsync(
        Stream body, int length, BitsFragmentMemory memory, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
    {
        _memory = memory;
        var queued = TimeSpan.Zero;
        var segments = new List<ReadOnlyMemory<byte>>();
        try
        {
            for (var read = 0; read < length;)
            {
                // A zero-byte read waits for data without a buffer (Kestrel supports it; other streams return at once).
                _ = await body.ReadAsync(Memory<byte>.Empty, cancellationToken);
                var size = Math.Min(length - read, _chunks.Count == 0 ? FirstChunkBytes : MaxChunkBytes);

                // After the first chunk every chunk is leased as one whole size class (MaxChunkBytes), also a short last
                // one: two classes in all, so returned buffers are reused exactly instead of dropped for the garbage
                // collector (which let peak RSS grow to 400 MiB at 16 x 13 MiB fragments with a class per chunk size).
                var lease = size <= FirstChunkBytes ? size : MaxChunkBytes;
                var remaining = wait - queued;
                var asked = time.GetTimestamp();
                var chunk = await memory.TryAcquireAsync(
                    lease, _chunks.Count == 0 ? null : this, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, time, cancellationToken);
                queued += time.GetElapsedTime(asked);
                if (chunk is null)
                {
                    return (false, null);
                }

                _chunks.Add(chunk);
                var target = chunk.Memory[..size];
                await body.ReadExactlyAsync(target, cancellationToken);
                segments.Add(target);
                read += size;
            }

            return (true, null);
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException)
        {
            return (true, ex);
        }
        finally
        {
            Bytes = BitsChunks.Sequence(segments);
        }
    }

    public void Dispose()
    {
        Bytes = ReadOnlySequence<byte>.Empty;

        // The chunks first, then the run: ended first, a new runner could be granted over the limit while this body
        // still held all of its chunks (leased bytes above the limit plus one Fragment for a moment).
        foreach (var chunk in _chunks)
        {
            chunk.Dispose();
        }

        _chunks.Clear();
        _memory?.EndRun(this);
    }
}
