using System.Buffers;

namespace Bits.Protocol;

/// <summary>Outcome of publishing a completed session.</summary>
public enum PublishResult
{
    Published = 1,

    /// <summary>The destination exists and may not be overwritten; nothing was written.</summary>
    DestinationExists = 2,

    /// <summary>
    /// The session's staged data is gone (discarded by another session's commit to the same destination, or expired):
    /// nothing was published, the session is now a <see cref="BitsSessionState.Discarded"/> tombstone, and the client
    /// must start the upload again.
    /// </summary>
    Discarded = 3,
}

/// <summary>
/// The storage seam of the protocol core. Implementations keep no per-process session state: any instance
/// may serve any packet. Every operation is safe to retry and to race with itself on another instance.
/// </summary>
public interface IBitsUploadStore
{
    /// <summary>Records a new open session. Ids are unique; creating an existing id is a fault.</summary>
    Task CreateSessionAsync(BitsSession session, CancellationToken cancellationToken);

    /// <summary>The session or its tombstone; null when neither exists.</summary>
    Task<BitsSession?> GetSessionAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>
    /// Records the file size of an open session whose size is not yet known, and with it the session's
    /// <see cref="BitsSession.ContentName"/> when the stored session has none and <paramref name="session"/> carries one
    /// (Windows sends <c>Content-Name</c> only on Fragments, rule 6a.9; no extra write). Returns the updated session, or
    /// null when another writer changed the session first (the caller reads it again).
    /// </summary>
    Task<BitsSession?> TrySetTotalLengthAsync(BitsSession session, long totalLength, CancellationToken cancellationToken);

    /// <summary>
    /// Stores <paramref name="data"/> (the Fragment body as read, in chunks of fragment memory that are not copied into
    /// one buffer) as the bytes at <paramref name="offset"/> (where the file will live, or on the
    /// session's own blob with <see cref="BitsSession.PrivateStaging"/>) and records <c>offset + data.Length</c> as the
    /// session's received length, if and only if the session record is still at <see cref="BitsSession.Version"/>
    /// and <paramref name="offset"/> equals its <see cref="BitsSession.ReceivedLength"/>. Returns the updated session,
    /// or null when the record changed since it was read (nothing recorded: read it again). With
    /// <paramref name="alreadyStaged"/> the bytes are known to be stored by an earlier call for the same range, and only
    /// the record is written. Throws <see cref="BitsSessionGoneException"/> when the session's staged data can no
    /// longer be completed (staged by an earlier layout, or discarded by another session's commit).
    /// </summary>
    Task<BitsSession?> StageAsync(BitsSession session, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken);

    /// <summary>True when the destination (in <paramref name="container"/>, null for the default) already holds a file.</summary>
    Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes a complete session (<see cref="BitsSession.ReceivedLength"/> = <see cref="BitsSession.TotalLength"/>)
    /// with one atomic commit of metadata (its staged pieces, never a copy of its bytes, except for
    /// <see cref="BitsSession.PrivateStaging"/> sessions, which are copied server-side), conditional on the destination
    /// as it was observed (If-None-Match <c>*</c> without <paramref name="allowOverwrite"/>), then replaces the session
    /// by a <see cref="BitsSessionState.Closed"/> tombstone. Idempotent and resumable: a retry after a time-out or a
    /// crash at any step continues, never publishes twice, and tells "published, then overwritten" from "discarded".
    /// When the staged data is gone it publishes nothing and returns <see cref="PublishResult.Discarded"/>.
    /// </summary>
    Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces an open session by a tombstone in <paramref name="finalState"/> and removes its staged data where that
    /// harms no one (no other session staging on the same destination, no published file). Idempotent.
    /// </summary>
    Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken);
}

/// <summary>Thrown by stores for transient storage failures the client should retry (mapped to a 5xx Ack).</summary>
public sealed class BitsStoreUnavailableException : Exception
{
    public BitsStoreUnavailableException()
    {
    }

    public BitsStoreUnavailableException(string message)
        : base(message)
    {
    }

    public BitsStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>What the Ack says (503 either way): <see cref="BitsErrors.StorageUnavailable"/>, or a more precise reason.</summary>
    public BitsErrorReason Reason { get; init; } = BitsErrors.StorageUnavailable;
}

/// <summary>Thrown by stores when an open session's staged data has vanished (closed or expired concurrently).</summary>
public sealed class BitsSessionGoneException : Exception
{
    public BitsSessionGoneException()
    {
    }

    public BitsSessionGoneException(string message)
        : base(message)
    {
    }

    public BitsSessionGoneException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
