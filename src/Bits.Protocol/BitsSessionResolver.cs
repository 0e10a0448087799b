using Microsoft.Extensions.Logging;

namespace Bits.Protocol;

/// <summary>A session the request names, with its recorded area; or the Ack that refuses the request instead.</summary>
internal readonly record struct BitsSessionLookup(BitsSession? Session, BitsArea? Area, BitsResponse? Failure)
{
    public static BitsSessionLookup Refused(BitsResponse failure) => new(null, null, failure);
}

/// <summary>
/// The one way a packet finds its session: by the request's normalised id, from what this instance remembers
/// (<see cref="BitsSessionCache"/>, no read) where a packet may use that, else from the store (one row read). Either
/// way the session must belong to the request's URL, area and owner (<see cref="BelongsTo"/>); anything else is no
/// session. The cache never decides a refusal: only a fresh read does.
/// </summary>
internal sealed class BitsSessionResolver(IBitsUploadStore store, BitsSessionCache cache, TimeProvider time, ILogger logger)
{
    /// <summary>
    /// Idle time after which a session's staged data cannot be trusted: storage deletes uncommitted blocks 7 days after
    /// a blob's last Put Block, so a session idle for longer than 6 days answers BG_E_SESSION_NOT_FOUND and starts over.
    /// </summary>
    internal static readonly TimeSpan StagedIdleLimit = TimeSpan.FromDays(6);

    /// <summary>The log message of a session that is not there (or not the request's).</summary>
    internal const string SessionNotFoundMessage = "The session does not exist or has expired.";

    /// <summary>The remembered session the request names, when its URL and user match it as a fresh read would require.</summary>
    public BitsSessionLookup? FindCached(BitsParsedRequest request)
    {
        if (cache.Lifetime <= TimeSpan.Zero
            || request.SessionId is not { } id
            || request.Destination is not { } destination
            || !cache.TryGet(id, out var session))
        {
            return null;
        }

        return BelongsTo(session, destination, request.Owner) && destination.Area.Enabled ? new(session, destination.Area, null) : null;
    }

    /// <summary>The session the request names, from the store; a session that is not open refuses the packet (rule 6a.4).</summary>
    public async Task<BitsSessionLookup> FindOpenAsync(BitsParsedRequest request, CancellationToken cancellationToken)
    {
        var found = await FindAsync(request, requireEnabled: true, cancellationToken);
        if (found.Failure is null && found.Session!.State != BitsSessionState.Open)
        {
            // Rule 6a.4: a Fragment for a closed or cancelled session never changes anything.
            return BitsSessionLookup.Refused(request.Fail(BitsErrors.SessionClosed.Error("The session is closed.")));
        }

        return found;
    }

    /// <summary>
    /// The session the request names, from the store, with its recorded area (see <see cref="BelongsTo"/>). With
    /// <paramref name="requireEnabled"/> (Fragment, Close-Session; never Cancel-Session) a disabled area answers 501.
    /// </summary>
    public async Task<BitsSessionLookup> FindAsync(BitsParsedRequest request, bool requireEnabled, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Request.SessionId))
        {
            return BitsSessionLookup.Refused(request.Fail(BitsErrors.SessionIdMissing.Error("BITS-Session-Id is required.")));
        }

        if (request.Destination is not { } destination)
        {
            return BitsSessionLookup.Refused(request.Fail(BitsErrors.InvalidPath.Error(request.PathProblem!)));
        }

        if (request.SessionId is not { } id)
        {
            return BitsSessionLookup.Refused(request.Fail(BitsErrors.SessionNotFound.Error("BITS-Session-Id is not a session id.")));
        }

        if (await FindAsync(id, destination, request.Owner, cancellationToken) is not { } session)
        {
            return BitsSessionLookup.Refused(request.Fail(BitsErrors.SessionNotFound.Error(SessionNotFoundMessage)));
        }

        if (requireEnabled && request.AreaDisabled() is { } disabled)
        {
            return BitsSessionLookup.Refused(request.Fail(disabled));
        }

        return new(session, destination.Area, null);
    }

    /// <summary>The stored session with this (normalised) id, when it belongs to the destination and owner; null otherwise.</summary>
    public async Task<BitsSession?> FindAsync(string id, BitsDestination destination, string? owner, CancellationToken cancellationToken)
    {
        var session = await store.GetSessionAsync(id, cancellationToken);
        return session is not null && BelongsTo(session, destination, owner) ? session : null;
    }

    /// <summary>
    /// The session's record as stored now, after a conditional write on it failed (another instance, a racing packet, a
    /// Close or Cancel changed it); null when it is gone. The session was found for this request already.
    /// </summary>
    public Task<BitsSession?> ReadAgainAsync(BitsSession session, CancellationToken cancellationToken) =>
        store.GetSessionAsync(session.Id, cancellationToken);

    /// <summary>Remembers the session as this instance just wrote it (see <see cref="BitsSessionCache.Update"/>).</summary>
    public void Remember(BitsSession session) => cache.Update(session);

    /// <summary>Stops using what this instance remembers of a session (an append that did not go as the cache expected).</summary>
    public void Forget(string sessionId) => cache.Forget(sessionId);

    /// <summary>Close and Cancel end a session: this instance stops using what it remembers of it first.</summary>
    public void Forget(BitsParsedRequest request)
    {
        if (request.SessionId is { } id)
        {
            cache.Forget(id);
        }
    }

    /// <summary>How long a session has been idle beyond <see cref="StagedIdleLimit"/>; null when it is not.</summary>
    public TimeSpan? IdleTooLong(BitsSession session)
    {
        var idle = time.GetUtcNow() - (session.LastActivity ?? session.CreatedAt);
        return session.State == BitsSessionState.Open && idle > StagedIdleLimit ? idle : null;
    }

    /// <summary>A session whose staged blocks may have expired: discarded, and the client starts over (0x8020001F).</summary>
    public async Task<BitsResponse> DiscardIdleAsync(BitsParsedRequest request, BitsSession session, TimeSpan idle, CancellationToken cancellationToken)
    {
        await store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
        BitsProtocolHandler.Log.IdleDiscarded(logger, session.Id, idle.TotalHours);
        return request.Fail(BitsErrors.SessionIdle.Error("The session was idle for more than 6 days; its staged data expires after 7. Start the upload again."));
    }

    /// <summary>
    /// A session is bound to its URL, to the area recorded at Create-Session and, with authentication on, to its user:
    /// anything else sees no session. Since the URL must resolve to the recorded area, the area returned with a session
    /// (and every policy taken from it) is the session's own; a recorded area that no longer exists matches no URL.
    /// </summary>
    /// <remarks>Ownership is by <see cref="BitsSession.Owner"/> (scheme plus immutable id): a session of an
    /// authenticated user created before owners were recorded has none, and so belongs to nobody any more.</remarks>
    private static bool BelongsTo(BitsSession session, BitsDestination destination, string? owner) =>
        string.Equals(session.Destination, destination.BlobName, StringComparison.Ordinal)
        && string.Equals(session.Container, destination.Container, StringComparison.Ordinal)
        && string.Equals(session.Area, destination.Area.Name, StringComparison.Ordinal)
        && ((session.User is null && session.Owner is null) || (owner is not null && string.Equals(session.Owner, owner, StringComparison.Ordinal)));
}
