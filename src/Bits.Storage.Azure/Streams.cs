using System.Runtime.InteropServices;

namespace Bits.Storage.Azure;

internal static class Streams
{
    /// <summary>A seekable read-only stream over memory, without copying when the memory is array-backed.</summary>
    public static MemoryStream Over(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) && segment.Array is { } array
            ? new MemoryStream(array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(memory.ToArray(), writable: false);
}
