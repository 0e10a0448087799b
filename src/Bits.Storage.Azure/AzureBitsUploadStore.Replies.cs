using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using Bits.Protocol;

namespace Bits.Storage.Azure;

/// <summary>
/// Upload-reply support: a session of an upload-reply area stages its Fragments as blocks of its own blob
/// <c>{id}/request</c> in the staging container, committed (metadata only) when the final Fragment notifies the back-end,
/// which reads it in place; the reply is <c>{id}/reply</c> beside it. Close, Cancel and the janitor remove both. With
/// <c>BITS-Copy-File-To-Destination</c> the request blob is copied server-side into staged blocks of the destination,
/// a time-bounded slice per request (<see cref="CopyToDestinationAsync"/>), and the publish commits them.
/// </summary>
public sealed partial class AzureBitsUploadStore : IBitsReplyStore
{
    public Task<Stream> OpenUploadAsync(BitsSession session, CancellationToken cancellationToken) => Guard(async () =>
    {
        if (!await EnsureRequestCommittedAsync(session, cancellationToken))
        {
            throw new BitsSessionGoneException($"Staged data of session {session.Id} does not exist.");
        }

        return (await RequestBlob(session).DownloadStreamingAsync(cancellationToken: cancellationToken)).Value.Content;
    }, cancellationToken);

    public Task<(Uri RequestData, Uri ResponseData)> CreateReferenceUrlsAsync(BitsSession session, TimeSpan lifetime, CancellationToken cancellationToken) => Guard(async () =>
    {
        // The session's own blob, committed by the final Fragment (metadata only): the back-end reads it in place.
        if (!await EnsureRequestCommittedAsync(session, cancellationToken))
        {
            throw new BitsSessionGoneException($"Staged data of session {session.Id} does not exist.");
        }

        var reply = ReplyBlob(session);
        var read = await _sourceAuthorizer.AuthorizeAsync(RequestBlob(session), BlobSasPermissions.Read, lifetime, cancellationToken);
        var write = await _sourceAuthorizer.AuthorizeAsync(reply, BlobSasPermissions.Create | BlobSasPermissions.Write, lifetime, cancellationToken);
        return (read, write);
    }, cancellationToken);

    public Task WriteReplyAsync(BitsSession session, Stream body, CancellationToken cancellationToken) => Guard(async () =>
    {
        await ReplyBlob(session).UploadAsync(body, new global::Azure.Storage.Blobs.Models.BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
        }, cancellationToken);
    }, cancellationToken);

    public Task<BitsSession> RecordNotificationAsync(BitsSession session, BitsNotificationOutcome outcome, CancellationToken cancellationToken) => Guard(async () =>
    {
        var entity = new TableEntity(session.Id, SessionRowKey)
        {
            ["Notified"] = true,
            ["StaticReplyUrl"] = outcome.StaticReplyUrl,
            ["CopyToDestination"] = outcome.CopyToDestination,
        };
        var response = await _table.UpdateEntityAsync(entity, ETag.All, TableUpdateMode.Merge, cancellationToken);
        return session with { Notification = outcome, Version = response.Headers.ETag?.ToString() };
    }, cancellationToken);

    public Task<BitsReplyContent> OpenReplyAsync(BitsSession session, long from, long? to, bool headOnly, CancellationToken cancellationToken) => Guard(async () =>
    {
        var reply = ReplyBlob(session);
        try
        {
            if (headOnly)
            {
                var properties = await reply.GetPropertiesAsync(cancellationToken: cancellationToken);
                return new BitsReplyContent(null, properties.Value.ContentLength, properties.Value.LastModified);
            }

            var range = new HttpRange(from, to is { } last ? last - from + 1 : null);
            var download = await reply.DownloadStreamingAsync(new BlobDownloadOptions { Range = range }, cancellationToken);
            var total = download.Value.Details.ContentRange is { } contentRange && contentRange.LastIndexOf('/') is var slash and >= 0
                && long.TryParse(contentRange[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture, out var size)
                ? size
                : download.Value.Details.ContentLength;
            return new BitsReplyContent(download.Value.Content, total, download.Value.Details.LastModified);
        }
        catch (RequestFailedException ex) when (ex.IsNotFound())
        {
            // The back-end wrote no reply: the client gets an empty one (as IIS).
            return new BitsReplyContent(headOnly ? null : Stream.Null, 0, session.CreatedAt);
        }
    }, cancellationToken);

    public Task<bool> CopyToDestinationAsync(BitsSession session, CancellationToken budget, CancellationToken cancellationToken) => Guard(async () =>
    {
        _ = ProgressOf(session);
        if (!await EnsureRequestCommittedAsync(session, cancellationToken))
        {
            // Nothing to copy from: published (and cleaned up) by a racing Close, or gone; the publish tells which.
            return true;
        }

        // Where the last request stopped: the destination's uncommitted blocks, whose ids name session and range.
        var destination = Uploads(session.Container).GetBlockBlobClient(session.Destination);
        var total = session.TotalLength ?? 0;
        var staged = await UncommittedBlockIdsAsync(destination, cancellationToken) ?? [];
        if (BlockChain.Find(staged, SessionKey(session.Id), total) is not null)
        {
            return true;
        }

        var missing = CopyRanges(session.Id, total).Where(range => !staged.Contains(range.Id)).ToList();
        var source = await _sourceAuthorizer.AuthorizeAsync(RequestBlob(session), cancellationToken);
        using var slice = CancellationTokenSource.CreateLinkedTokenSource(budget, cancellationToken);
        try
        {
            await Parallel.ForEachAsync(
                missing,
                new ParallelOptions { MaxDegreeOfParallelism = _options.PublishConcurrency, CancellationToken = slice.Token },
                async (range, token) => await destination.StageBlockFromUriAsync(
                    source, range.Id, new StageBlockFromUriOptions { SourceRange = new HttpRange(range.Offset, range.Length) }, token));
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // This request's budget is used: ranges in flight are abandoned (a block is staged whole or not at all), and
            // the next call lists what did get staged.
            return false;
        }
        catch (RequestFailedException ex) when (ex.IsBlockCountExceeded())
        {
            // Other sessions' blocks fill the destination: 503, the retried Close continues once they commit or expire.
            Log.BlobFull(_logger, session.Id, session.Destination);
            throw new BitsStoreUnavailableException($"The destination of session {session.Id} holds the most uncommitted blocks storage allows; retry the Close later.", ex)
            {
                Reason = BitsErrors.BlockLimit,
            };
        }

        return true;
    }, cancellationToken);

    /// <summary>
    /// The ranges of a copy, with block ids of the staged-Fragment form: <c>BitsStorage:PublishBlockBytes</c> each, or
    /// larger when that many would not fit a session's block budget (one commit names them all). The same for every
    /// request of the copy, so each continues from the blocks the last one staged.
    /// </summary>
    private IEnumerable<(string Id, long Offset, long Length)> CopyRanges(string sessionId, long total)
    {
        var blocks = _options.BlockBudget.SessionBlocks;
        var range = Math.Max(_options.PublishBlockBytes, (total + blocks - 1) / blocks);
        for (long position = 0; position < total;)
        {
            var length = Math.Min(range, total - position);
            yield return (BlockId(sessionId, position, length), position, length);
            position += length;
        }
    }

    private BlockBlobClient ReplyBlob(BitsSession session) => _staging.GetBlockBlobClient(SessionKey(session.Id) + "/reply");

    private static BitsNotificationOutcome? NotificationOf(TableEntity entity) =>
        entity.GetBoolean("Notified") == true
            ? new BitsNotificationOutcome(entity.GetString("StaticReplyUrl"), entity.GetBoolean("CopyToDestination") == true)
            : null;
}
