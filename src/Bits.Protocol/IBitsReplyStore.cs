namespace Bits.Protocol;

/// <summary>A stored reply, or the requested range of it.</summary>
/// <param name="Content">The bytes of the range (the caller disposes it); null for HEAD.</param>
/// <param name="TotalLength">Size of the whole reply.</param>
/// <param name="LastModified">When the reply was written.</param>
public sealed record BitsReplyContent(Stream? Content, long TotalLength, DateTimeOffset LastModified);

/// <summary>The back-end's answer to a notification, kept with the session.</summary>
/// <param name="StaticReplyUrl">The back-end's <c>BITS-Static-Response-URL</c>, if it gave one.</param>
/// <param name="CopyToDestination">The back-end asked for <c>BITS-Copy-File-To-Destination</c>.</param>
public sealed record BitsNotificationOutcome(string? StaticReplyUrl, bool CopyToDestination);

/// <summary>
/// Optional store capability for upload-reply areas (IIS notification types 1 and 2): hands the uploaded bytes to
/// the back-end, keeps its reply, and serves it until Close/Cancel/expiry.
/// </summary>
public interface IBitsReplyStore
{
    /// <summary>The uploaded bytes of a complete session, streamed from storage (never buffered whole).</summary>
    Task<Stream> OpenUploadAsync(BitsSession session, CancellationToken cancellationToken);

    /// <summary>
    /// Short-lived URLs for a by-reference notification: read access to the uploaded data and write access to the
    /// reply (the cloud form of IIS's request and response file paths).
    /// </summary>
    Task<(Uri RequestData, Uri ResponseData)> CreateReferenceUrlsAsync(BitsSession session, TimeSpan lifetime, CancellationToken cancellationToken);

    /// <summary>Stores the back-end's reply body (replacing any earlier one).</summary>
    Task WriteReplyAsync(BitsSession session, Stream body, CancellationToken cancellationToken);

    /// <summary>Records that the back-end accepted the upload, so a retransmitted final Fragment gets the cached Ack.</summary>
    Task<BitsSession> RecordNotificationAsync(BitsSession session, BitsNotificationOutcome outcome, CancellationToken cancellationToken);

    /// <summary>
    /// <c>BITS-Copy-File-To-Destination</c>: copies the uploaded bytes of a notified session server-side into staged
    /// (uncommitted) blocks of its destination, continuing from what earlier calls on any instance staged (nothing is
    /// copied twice; nothing becomes visible before <see cref="IBitsUploadStore.PublishAsync"/> commits). Stops when
    /// <paramref name="budget"/> is cancelled, abandoning ranges in flight, and returns false: a later call continues.
    /// Returns true when nothing is left to copy (every byte is staged, or the upload was published or is gone meanwhile:
    /// the publish tells which). Safe to repeat and to race with itself.
    /// </summary>
    Task<bool> CopyToDestinationAsync(BitsSession session, CancellationToken budget, CancellationToken cancellationToken);

    /// <summary>The reply (an empty one if the back-end wrote none), or the bytes <paramref name="from"/>..<paramref name="to"/> of it.</summary>
    Task<BitsReplyContent> OpenReplyAsync(BitsSession session, long from, long? to, bool headOnly, CancellationToken cancellationToken);
}
