using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using Bits.Protocol;

namespace Bits.Storage.Azure;

/// <summary>
/// Upload-reply support: the uploaded data for the back-end and the reply, kept beside the session's segments in the
/// staging container (<c>{id}/request</c>, <c>{id}/reply</c>), so Close, Cancel and the janitor remove them with the
/// segments.
/// </summary>
public sealed partial class AzureBitsUploadStore : IBitsReplyStore
{
    public Task<Stream> OpenUploadAsync(BitsSession session, CancellationToken cancellationToken) => Guard(() =>
    {
        var segmentBytes = SegmentBytesOf(session);
        var total = session.TotalLength ?? 0;
        var segments = new List<(AppendBlobClient Blob, long Length)>();
        for (long position = 0, index = 0; position < total; index++)
        {
            var length = Math.Min(segmentBytes, total - position);
            segments.Add((Segment(session.Id, index), length));
            position += length;
        }

        return Task.FromResult<Stream>(new ConcatenatedBlobStream(segments, total));
    }, cancellationToken);

    public Task<(Uri RequestData, Uri ResponseData)> CreateReferenceUrlsAsync(BitsSession session, TimeSpan lifetime, CancellationToken cancellationToken) => Guard(async () =>
    {
        // One block blob holding the whole upload, composed server-side from the segments like a publish.
        var request = _staging.GetBlockBlobClient(SessionKey(session.Id) + "/request");
        await CommitAsync(session, request, allowOverwrite: true, cancellationToken);
        var reply = ReplyBlob(session);
        var read = await _sourceAuthorizer.AuthorizeAsync(request, BlobSasPermissions.Read, lifetime, cancellationToken);
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

    private BlockBlobClient ReplyBlob(BitsSession session) => _staging.GetBlockBlobClient(SessionKey(session.Id) + "/reply");

    private static BitsNotificationOutcome? NotificationOf(TableEntity entity) =>
        entity.GetBoolean("Notified") == true
            ? new BitsNotificationOutcome(entity.GetString("StaticReplyUrl"), entity.GetBoolean("CopyToDestination") == true)
            : null;

    /// <summary>Reads segments one after another, each opened only when reached: the upload is never held whole.</summary>
    private sealed class ConcatenatedBlobStream(List<(AppendBlobClient Blob, long Length)> segments, long length) : Stream
    {
        private int _index;
        private Stream? _current;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_index < segments.Count)
            {
                if (_current is null)
                {
                    var (blob, segmentLength) = segments[_index];
                    var download = await blob.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(0, segmentLength) }, cancellationToken);
                    _current = download.Value.Content;
                }

                var read = await _current.ReadAsync(buffer, cancellationToken);
                if (read > 0)
                {
                    _position += read;
                    return read;
                }

                await _current.DisposeAsync();
                _current = null;
                _index++;
            }

            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _current?.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
