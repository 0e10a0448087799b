using System.Buffers;

namespace Bits.Protocol;

/// <summary>Chunks of memory as one <see cref="ReadOnlySequence{T}"/>, without copying them.</summary>
public static class BitsChunks
{
    public static ReadOnlySequence<byte> Sequence(IReadOnlyList<ReadOnlyMemory<byte>> chunks)
    {
        if (chunks.Count <= 1)
        {
            return chunks.Count == 0 ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(chunks[0]);
        }

        var first = new Segment(chunks[0], 0);
        var last = first;
        foreach (var memory in chunks.Skip(1))
        {
            last = last.Append(memory);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
