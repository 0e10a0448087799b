using System.Buffers;
using Bits.Protocol;

namespace Bits.Testing;

/// <summary>Byte sequences of several segments, as the handler hands a Fragment body read in chunks to the store.</summary>
public static class ChunkedSequence
{
    /// <summary><paramref name="data"/> as consecutive segments of the given lengths (the last one takes the rest).</summary>
    public static ReadOnlySequence<byte> Of(byte[] data, params int[] lengths)
    {
        var chunks = new List<ReadOnlyMemory<byte>>();
        var offset = 0;
        foreach (var length in lengths.Append(data.Length - lengths.Sum()))
        {
            chunks.Add(data.AsMemory(offset, length));
            offset += length;
        }

        return BitsChunks.Sequence(chunks);
    }
}
