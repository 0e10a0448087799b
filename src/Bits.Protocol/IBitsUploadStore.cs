namespace Bits.Protocol;

/// <summary>Outcome of an append: stored, or refused because the stored length is not the requested offset.</summary>
/// <param name="Appended">True when the bytes were stored at the requested offset.</param>
/// <param name="ReceivedLength">Bytes stored for the session after the call (the next expected offset).</param>
public readonly record struct AppendResult(bool Appended, long ReceivedLength);

/// <summary>Outcome of publishing a completed session.</summary>
public enum PublishResult
{
    Published = 1,

    /// <summary>The destination exists and may not be overwritten; nothing was written.</summary>
    DestinationExists = 2,
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
    /// Records the file size of an open session whose size is not yet known. Returns the updated session, or null
    /// when another writer changed the session first (the caller reads it again).
    /// </summary>
    Task<BitsSession?> TrySetTotalLengthAsync(BitsSession session, long totalLength, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically appends <paramref name="data"/> at <paramref name="offset"/> if and only if exactly
    /// <paramref name="offset"/> bytes are stored; otherwise stores nothing and reports the stored length.
    /// </summary>
    Task<AppendResult> AppendAsync(BitsSession session, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Bytes stored so far for an open session.</summary>
    Task<long> GetReceivedLengthAsync(BitsSession session, CancellationToken cancellationToken);

    /// <summary>True when the destination (in <paramref name="container"/>, null for the default) already holds a file.</summary>
    Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes the staged bytes of a complete session to its destination in one atomic, server-side commit
    /// (conditional unless <paramref name="allowOverwrite"/>), then replaces the session by a
    /// <see cref="BitsSessionState.Closed"/> tombstone and deletes its staged data. Idempotent: a retry after a
    /// crash at any step finishes the work and never publishes twice.
    /// </summary>
    Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces an open session by a tombstone in <paramref name="finalState"/> and deletes its staged data.
    /// Never touches a published file. Idempotent.
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
