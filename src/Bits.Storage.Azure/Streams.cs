using System.Buffers;
using System.Runtime.InteropServices;

namespace Bits.Storage.Azure;

internal static class Streams
{
    /// <summary>A seekable read-only stream over memory, without copying when the memory is array-backed.</summary>
    public static MemoryStream Over(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) && segment.Array is { } array
            ? new MemoryStream(array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(memory.ToArray(), writable: false);

    /// <summary>
    /// A seekable read-only stream over a sequence of chunks, without copying them into one buffer (seekable, so the
    /// SDK can rewind it to retry a Put Block).
    /// </summary>
    public static Stream Over(ReadOnlySequence<byte> sequence) =>
        sequence.IsSingleSegment ? Over(sequence.First) : new SequenceStream(sequence);

    private sealed class SequenceStream(ReadOnlySequence<byte> sequence) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => sequence.Length;

        public override long Position
        {
            get => _position;
            set => _position = value is >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= sequence.Length)
            {
                return 0;
            }

            var slice = sequence.Slice(_position);
            var n = (int)Math.Min(buffer.Length, slice.Length);
            slice.Slice(0, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer, offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => sequence.Length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
