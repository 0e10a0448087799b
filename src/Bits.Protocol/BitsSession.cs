using System.Security.Cryptography;

namespace Bits.Protocol;

/// <summary>Where a session is in its life. Values are stored; never renumber them.</summary>
public enum BitsSessionState
{
    /// <summary>Receiving fragments.</summary>
    Open = 0,

    /// <summary>Published by Close-Session; only a tombstone remains.</summary>
    Closed = 1,

    /// <summary>Cancelled by Cancel-Session; only a tombstone remains.</summary>
    Cancelled = 2,

    /// <summary>Closed before all bytes arrived, or its destination could not be written; nothing was published.</summary>
    Discarded = 3,
}

/// <summary>What the store keeps about one upload session.</summary>
public sealed record BitsSession
{
    /// <summary>Braced upper-case GUID, e.g. <c>{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The destination blob name (from the URL path under the upload route and the area's blob prefix).</summary>
    public required string Destination { get; init; }

    /// <summary>The container of the destination; null for the store's default upload container.</summary>
    public string? Container { get; init; }

    /// <summary>Name of the upload area the session belongs to.</summary>
    public string? Area { get; init; }

    public string? ContentName { get; init; }

    public string? User { get; init; }

    /// <summary>The owner key of the creating request (<see cref="BitsRequest.Owner"/>); null for sessions of anonymous callers.</summary>
    public string? Owner { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The file size, recorded from the first Fragment; null before it.</summary>
    public long? TotalLength { get; init; }

    public BitsSessionState State { get; init; } = BitsSessionState.Open;

    /// <summary>Set once the back-end of an upload-reply area accepted the upload (the final Ack is then cached).</summary>
    public BitsNotificationOutcome? Notification { get; init; }

    /// <summary>
    /// The completion event this session owes (<see cref="IBitsEventStore"/>): set before the publish commit, kept on a
    /// Closed tombstone, cleared once the queue accepted it; null when none is pending.
    /// </summary>
    public BitsPendingEvent? PendingEvent { get; init; }

    /// <summary>
    /// Bytes recorded as received: the next offset the session expects. This is the offset truth, kept in the session
    /// record and advanced (conditionally on <see cref="Version"/>) by every stored Fragment.
    /// </summary>
    public long ReceivedLength { get; init; }

    /// <summary>When the session last recorded progress (its creation before the first Fragment); null when unknown.</summary>
    public DateTimeOffset? LastActivity { get; init; }

    /// <summary>
    /// True for sessions of upload-reply areas: their bytes are staged on a blob of their own (committed by the final
    /// Fragment, so the back-end can read it) instead of on the destination, which is written only after the back-end's 200.
    /// </summary>
    public bool PrivateStaging { get; init; }

    /// <summary>Opaque version used by the store for optimistic concurrency.</summary>
    public string? Version { get; init; }

    /// <summary>
    /// Opaque store-specific facts (the staging layout, fixed at creation, and the store's staging progress, e.g. blocks
    /// used and where a coalescing segment begins), round-tripped by the store: returned by every stored Fragment, so a
    /// cached session carries them.
    /// </summary>
    public string? StoreState { get; init; }
}

/// <summary>Session ids: 128 bits from a CSPRNG, formatted as the IIS server does.</summary>
public static class BitsSessionIds
{
    public static string NewId() => new Guid(RandomNumberGenerator.GetBytes(16)).ToString("B").ToUpperInvariant();

    /// <summary>
    /// Normalises a client-supplied id (any GUID spelling) to the stored form; false for anything that is not a GUID,
    /// so no unvalidated text ever reaches a storage key or query.
    /// </summary>
    public static bool TryNormalize(string? value, out string id)
    {
        id = string.Empty;
        if (value is null || value.Length > 100 || !Guid.TryParse(value.Trim(), out var guid))
        {
            return false;
        }

        id = guid.ToString("B").ToUpperInvariant();
        return true;
    }
}
