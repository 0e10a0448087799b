using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Bits.Testing;

/// <summary>
/// A read-only, seekable stream of <see cref="Length"/> pseudo-random bytes that are a pure function of the seed and the
/// position (SplitMix64 of the 8-byte word index), so a file of any size can be uploaded, re-read from any offset and
/// hashed without ever being held in memory; <see cref="Bytes"/> gives the same bytes as an array.
/// </summary>
public sealed class SeededStream(ulong seed, long length) : Stream
{
    private long _position;

    public ulong Seed { get; } = seed;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length { get; } = length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    /// <summary>
    /// The first <paramref name="length"/> bytes of the stream with <paramref name="seed"/>, as an array: the test data
    /// of every test project that holds a whole file (the same seed gives the same bytes in every test and tool).
    /// </summary>
    public static byte[] Bytes(int length, int seed = 42)
    {
        var bytes = new byte[length];
        Fill(unchecked((ulong)seed), 0, bytes);
        return bytes;
    }

    /// <summary>SHA-256 of the whole content, computed in 1 MiB pieces.</summary>
    public static byte[] Sha256(ulong seed, long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1024 * 1024];
        for (long position = 0; position < length; position += buffer.Length)
        {
            var count = (int)Math.Min(buffer.Length, length - position);
            Fill(seed, position, buffer.AsSpan(0, count));
            hash.AppendData(buffer, 0, count);
        }

        return hash.GetHashAndReset();
    }

    /// <summary>Writes the bytes at <paramref name="position"/>.. of the stream with <paramref name="seed"/> into <paramref name="destination"/>.</summary>
    public static void Fill(ulong seed, long position, Span<byte> destination)
    {
        Span<byte> word = stackalloc byte[8];
        var index = position >> 3;
        var skip = (int)(position & 7);
        var done = 0;
        if (skip != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Mix(seed, index++));
            done = Math.Min(8 - skip, destination.Length);
            word.Slice(skip, done).CopyTo(destination);
        }

        for (; destination.Length - done >= 8; done += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination.Slice(done, 8), Mix(seed, index++));
        }

        if (done < destination.Length)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Mix(seed, index));
            word[..(destination.Length - done)].CopyTo(destination[done..]);
        }
    }

    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Max(0, Math.Min(buffer.Length, Length - _position));
        Fill(Seed, _position, buffer[..count]);
        _position += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private static ulong Mix(ulong seed, long index)
    {
        var z = seed + (((ulong)index + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
