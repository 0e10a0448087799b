using System.Buffers;
using System.Globalization;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Microsoft.Extensions.Logging;

namespace Bits.Storage.Azure;

/// <summary>
/// Coalescing (docs/architecture.md, "Limits and coalescing"): when a session's block budget would not last to the end
/// of the file at its fragment size, or when the blob refuses another uncommitted block (409 BlockCountExceedsLimit), its
/// Fragments are appended to a segment of its own, an append blob <c>{id}/segment-{start}</c> in the staging container
/// (If-Append-Position: a storage-checked offset), which moves into the blob as one block (Put Block From URL, id = the
/// segment's byte range) during the Fragment that fills it, or that ends the file.
/// </summary>
public sealed partial class AzureBitsUploadStore
{
    /// <summary>
    /// Stages one Fragment's bytes as a block of its own, or in the session's segment; returns the progress to record
    /// (null when the session changed: read it again) and the start of a segment this call moved into the blob.
    /// </summary>
    private async Task<(StagingProgress? Next, long? Moved)> StageBytesAsync(BitsSession session, StagingProgress progress, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken)
    {
        var total = session.TotalLength ?? offset + data.Length;
        if (progress.Segment is null && !_options.BlockBudget.ShouldCoalesce(progress.Blocks, offset, data.Length, total)
            && await StageOwnBlockAsync(session, offset, data, alreadyStaged, cancellationToken))
        {
            return (progress with { Blocks = progress.Blocks + 1 }, null);
        }

        // Coalescing is sticky: a session never goes back to blocks of their own once its record names a segment, so
        // "already staged" (the handler's earlier call for this range) never names bytes that went the other way.
        var start = progress.Segment ?? offset;
        if (!await AppendToSegmentAsync(session, start, offset, data, cancellationToken))
        {
            return (null, null);
        }

        var end = offset + data.Length;
        var crossed = (offset - start) / _options.BlockBudget.SegmentBytes < (end - start) / _options.BlockBudget.SegmentBytes;
        if ((crossed || end == total) && await MoveSegmentAsync(session, start, end, cancellationToken))
        {
            return (new StagingProgress(progress.Blocks + 1, end), start);
        }

        return (progress with { Segment = start }, null);
    }

    /// <summary>
    /// Stages the bytes as a block of their own (true), or returns false when they belong in a segment: the blob refused
    /// the block (409, other sessions' blocks fill it), or "already staged" names bytes that went there.
    /// </summary>
    private async Task<bool> StageOwnBlockAsync(BitsSession session, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken)
    {
        if (alreadyStaged)
        {
            // The handler's earlier call for this range staged it, and only its record write failed. It went to a segment
            // instead when the blob refused the block (409 below): then a segment starts at this offset (one read, on this
            // retry path only), and the bytes continue there.
            return !await SegmentBlob(session, offset).ExistsAsync(cancellationToken);
        }

        try
        {
            // The one data write: where the file will live. Same range, same block id: a retransmit rewrites it.
            using var content = Streams.Over(data);
            await StagingTarget(session).StageBlockAsync(BlockId(session.Id, offset, data.Length), content, cancellationToken: cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.IsBlockCountExceeded())
        {
            // Other sessions' blocks fill the blob: from here on this session needs one block per segment only.
            Log.BlobFull(_logger, session.Id, session.Destination);
            return false;
        }
    }

    /// <summary>
    /// Appends the bytes at their place in the segment, checked by storage. Bytes found there already (a retransmit, a
    /// racing duplicate, a call whose record write failed) are not appended again: every byte appended to a session's
    /// segment is the client's byte of that offset. False when the segment is gone (moved by a racing call: read again).
    /// </summary>
    private async Task<bool> AppendToSegmentAsync(BitsSession session, long start, long offset, ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        var segment = SegmentBlob(session, start);
        var position = offset - start;
        if (position == 0)
        {
            await segment.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        }

        for (var skip = 0L; ;)
        {
            try
            {
                using var content = Streams.Over(data.Slice(skip));
                await segment.AppendBlockAsync(content, new AppendBlobAppendBlockOptions { Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = position + skip } }, cancellationToken);
                return true;
            }
            catch (RequestFailedException ex) when (ex.IsBlobNotFound())
            {
                return false;
            }
            catch (RequestFailedException ex) when (ex.IsAppendPositionMismatch())
            {
                var length = (await segment.GetPropertiesAsync(cancellationToken: cancellationToken)).Value.ContentLength;
                if (length >= position + data.Length)
                {
                    return true;
                }

                if (length < position)
                {
                    // Bytes the record counts are missing from the segment: never acknowledge a hole.
                    throw new BitsSessionGoneException($"Session {session.Id}: its segment at {start} holds {length} bytes, fewer than recorded.");
                }

                skip = length - position;
            }
        }
    }

    /// <summary>
    /// Moves the segment's bytes [start, end) into the session's blob as one block (server-side). False when the blob
    /// has no room for another uncommitted block (the segment stays and keeps growing; the move is tried again).
    /// </summary>
    private async Task<bool> MoveSegmentAsync(BitsSession session, long start, long end, CancellationToken cancellationToken)
    {
        var source = await _sourceAuthorizer.AuthorizeAsync(SegmentBlob(session, start), cancellationToken);
        try
        {
            await StagingTarget(session).StageBlockFromUriAsync(
                source, BlockId(session.Id, start, end - start), new StageBlockFromUriOptions { SourceRange = new HttpRange(0, end - start) }, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.IsBlockCountExceeded())
        {
            Log.BlobFull(_logger, session.Id, session.Destination);
            return false;
        }
    }

    /// <summary>
    /// Before a commit: a segment the final Fragment could not move (the blob was full then) moves now, the one bounded
    /// copy a commit may make. Still no room: 503, the client retries the Close later.
    /// </summary>
    private async Task MoveTailAsync(BitsSession session, CancellationToken cancellationToken)
    {
        var total = session.TotalLength ?? 0;
        if (!StagingProgress.TryParse(session.StoreState, out var progress) || progress.Segment is not { } start || start >= total)
        {
            return;
        }

        try
        {
            if (!await MoveSegmentAsync(session, start, total, cancellationToken))
            {
                throw new BitsStoreUnavailableException($"The blob of session {session.Id} holds the most uncommitted blocks storage allows; retry the Close later.")
                {
                    Reason = BitsErrors.BlockLimit,
                };
            }
        }
        catch (RequestFailedException ex) when (ex.IsBlobNotFound())
        {
            // No segment (our racing Close published and cleaned up, or it was never written): the chain decides.
        }
    }

    private AppendBlobClient SegmentBlob(BitsSession session, long start) =>
        _staging.GetAppendBlobClient(string.Create(CultureInfo.InvariantCulture, $"{SessionKey(session.Id)}/segment-{start:x12}"));

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Storage.BlobFull, LogLevel.Warning, "Session {SessionId}: the blob of {Destination} holds the most uncommitted blocks storage allows; coalescing into a segment", EventName = "BlobFull")]
        public static partial void BlobFull(ILogger logger, string sessionId, string destination);
    }
}
