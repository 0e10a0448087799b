using System.Buffers;
using Bits.Protocol;

namespace Bits.Testing;

public static class BitsUploadStoreExtensions
{
    /// <summary>Stages one contiguous buffer (the handler passes the chunks of fragment memory as they were read).</summary>
    public static Task<BitsSession?> StageAsync(this IBitsUploadStore store, BitsSession session, long offset, ReadOnlyMemory<byte> data, bool alreadyStaged, CancellationToken cancellationToken) =>
        store.StageAsync(session, offset, new ReadOnlySequence<byte>(data), alreadyStaged, cancellationToken);
}
