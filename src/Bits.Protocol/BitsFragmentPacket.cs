using System.Buffers;

namespace Bits.Protocol;

/// <summary>
/// The Fragment packet. Each Fragment is stored once, where the file will live: one staged block named by the session
/// and its byte range, then the session's received length advanced in its record, conditionally on the version the
/// handler knows (see docs/architecture.md, "Storage design"). A steady-state Fragment whose session this instance
/// remembers (<see cref="BitsSessionCache"/>) costs those two writes and no read; otherwise one small read comes first.
/// </summary>
internal sealed class BitsFragmentPacket(BitsProtocolHandler handler)
{
    private const int MaxStageAttempts = 4;

    /// <summary>How long a Fragment waits for buffer memory (<see cref="BitsServerOptions.FragmentMemoryBytes"/>) before 503.</summary>
    private static readonly TimeSpan FragmentMemoryWait = TimeSpan.FromSeconds(30);

    private IBitsUploadStore Store => handler.Store;

    private BitsSessionResolver Sessions => handler.Sessions;

    public async Task<BitsResponse> HandleAsync(BitsParsedRequest parsed, long contentLength, CancellationToken cancellationToken)
    {
        // A session remembered from an earlier Fragment needs no read (see BitsSessionCache); otherwise the session row
        // is read first. Either way the session is known before any body memory is leased, so a packet for an unknown
        // or foreign session never takes fragment memory from the others.
        var request = parsed.Request;
        var cached = Sessions.FindCached(parsed);
        var headerFailure = CheckHeaders(parsed, contentLength, out var range);

        // The plain case: the cached record expects exactly this offset, the size is known and this is not the last
        // Fragment. Anything else is decided from a fresh read.
        var plain = cached is { } c && headerFailure is null && !range.IsEmptyUpload
            && c.Session!.TotalLength == range.Total && c.Session.ReceivedLength == range.First && range.Last + 1 < range.Total;
        var (session, area, failure) = plain ? cached!.Value : await Sessions.FindOpenAsync(parsed, cancellationToken);
        if (failure is null && !plain && Sessions.IdleTooLong(session!) is { } idle)
        {
            return await Sessions.DiscardIdleAsync(parsed, session!, idle, cancellationToken);
        }

        if (failure is not null || headerFailure is not null || range.IsEmptyUpload)
        {
            return failure ?? headerFailure ?? await EmptyUploadAsync(parsed, session!, area!, range, cancellationToken);
        }

        // Memory is leased chunk by chunk as the body arrives (issue 12, point 5), never for the declared length up front.
        using var buffer = new BitsFragmentBody();
        var (leased, bodyFailure) = await buffer.ReadAsync(
            request.Body, checked((int)contentLength), handler.FragmentMemory, FragmentMemoryWait, handler.Time, cancellationToken);
        if (!leased)
        {
            // Busy: every chunk goes back at once, unless a fresh read says the session is gone (the cache never
            // decides a refusal).
            buffer.Dispose();
            var gone = plain ? (await Sessions.FindOpenAsync(parsed, cancellationToken)).Failure : null;
            return gone ?? parsed.Fail(BitsErrors.FragmentMemoryFull.Error("The server is receiving too many fragments at once; retry."));
        }

        var echo = parsed.Echo;
        var staged = false;
        if (plain)
        {
            if (bodyFailure is null)
            {
                (var updated, staged) = await TryStageCachedAsync(session!, range, buffer.Bytes, cancellationToken);
                if (updated is not null)
                {
                    Sessions.Remember(updated);
                    return BitsResponse.Ok().WithSession(echo).WithReceived(updated.ReceivedLength);
                }
            }

            Sessions.Forget(session!.Id);
            (session, area, failure) = await Sessions.FindOpenAsync(parsed, cancellationToken);
            if (failure is not null)
            {
                return failure;
            }
        }

        for (var attempt = 0; session!.TotalLength is null; attempt++)
        {
            if (range.Total > area!.MaxUploadBytes)
            {
                return parsed.Fail(BitsErrors.UploadTooLarge.Error($"Upload of {range.Total} bytes exceeds the limit of {area.MaxUploadBytes} bytes."));
            }

            var updated = await Store.TrySetTotalLengthAsync(WithContentName(session, parsed.Request), range.Total, cancellationToken);
            if (updated is not null)
            {
                session = updated;
                break;
            }

            session = await Sessions.ReadAgainAsync(session, cancellationToken);
            if (session is null || session.State != BitsSessionState.Open || attempt >= MaxStageAttempts)
            {
                return parsed.Fail(BitsErrors.SessionNotFound.Error(BitsSessionResolver.SessionNotFoundMessage));
            }
        }

        if (session.TotalLength != range.Total)
        {
            return parsed.Fail(BitsErrors.TotalMismatch.Error($"Content-Range total {range.Total} differs from the session's total {session.TotalLength}."));
        }

        if (bodyFailure is not null)
        {
            // Rules 6a.1 and 6a.10: a body that never fully arrived stores nothing, and the failure is transient (the
            // connection dropped or the body was too slow), so the client is told to retry, not that its request is bad.
            BitsProtocolHandler.Log.BodyIncomplete(handler.Logger, session.Id, contentLength, bodyFailure);
            return parsed.Fail(BitsErrors.BodyIncomplete.Error("The fragment body ended before Content-Length bytes arrived; nothing was stored. Send the range again."));
        }

        var (ack, stored) = await StageAsync(parsed, session, range, buffer.Bytes, staged, cancellationToken);

        // The bytes are stored: their memory goes back now, not after the back-end's answer (issue 12, point 5).
        buffer.Dispose();
        if (stored is null)
        {
            return ack;
        }

        if (ack.StatusCode == 200 && stored.ReceivedLength == range.Total && area!.NotificationType != BitsNotificationType.None)
        {
            return await handler.ReplyNotification.NotifyAsync(parsed, stored, area, stored.ReceivedLength, cancellationToken);
        }

        if (ack.StatusCode == 200 && stored.ReceivedLength < range.Total)
        {
            Sessions.Remember(stored);
        }

        return ack;
    }

    /// <summary>
    /// One stage for a session known from the cache: the updated session when stored and recorded, else null (the record
    /// changed meanwhile, or the session is gone) and whether the block itself was stored (so it is not sent again).
    /// </summary>
    private async Task<(BitsSession? Updated, bool Staged)> TryStageCachedAsync(BitsSession session, ContentRange range, ReadOnlySequence<byte> body, CancellationToken cancellationToken)
    {
        try
        {
            var updated = await Store.StageAsync(session, range.First, body, alreadyStaged: false, cancellationToken);
            if (updated is not null)
            {
                handler.Metrics.BytesReceived.Add(body.Length);
            }

            // Null: the block was stored, only the record's condition failed (another instance, or a lost response).
            return (updated, true);
        }
        catch (BitsSessionGoneException)
        {
            // Discarded or closed elsewhere: the fresh read tells which.
            return (null, false);
        }
    }

    /// <summary>
    /// Stores the part of the Fragment the session does not have yet, against the session record as read: 200 for a
    /// duplicate, 416 for a gap, and the new bytes staged and recorded otherwise. A record changed meanwhile is read
    /// again (a racing retransmit on another instance); <paramref name="staged"/> says the client's range is already
    /// stored, so a retry after a failed condition writes only the record.
    /// </summary>
    private async Task<(BitsResponse Ack, BitsSession? Session)> StageAsync(
        BitsParsedRequest parsed, BitsSession session, ContentRange range, ReadOnlySequence<byte> body, bool staged, CancellationToken cancellationToken)
    {
        var echo = parsed.Echo;
        for (var attempt = 0; attempt < MaxStageAttempts; attempt++)
        {
            var received = session.ReceivedLength;
            if (range.First > received)
            {
                // A gap: store nothing, tell the client where to resume.
                return (BitsResponse.RangeNotSatisfiable(received).WithSession(echo), null);
            }

            if (range.Last < received)
            {
                // A pure duplicate (e.g. a retransmit whose first Ack was lost, or the loser of a race).
                return (BitsResponse.Ok().WithSession(echo).WithReceived(received), session);
            }

            if (received > range.First)
            {
                // Overlap: store only the bytes not yet stored.
                BitsProtocolHandler.Log.OverlapTrimmed(handler.Logger, session.Id, range.First, received);
            }

            var data = body.Slice(received - range.First);
            var updated = await Store.StageAsync(session, received, data, staged && received == range.First, cancellationToken);
            if (updated is not null)
            {
                handler.Metrics.BytesReceived.Add(data.Length);
                return (BitsResponse.Ok().WithSession(echo).WithReceived(updated.ReceivedLength), updated);
            }

            staged |= received == range.First;
            var fresh = await Sessions.ReadAgainAsync(session, cancellationToken);
            if (fresh is null || fresh.State != BitsSessionState.Open)
            {
                return (parsed.Fail(BitsErrors.SessionClosed.Error("The session is closed.")), null);
            }

            session = fresh;
        }

        return (BitsResponse.RangeNotSatisfiable(session.ReceivedLength).WithSession(echo), null);
    }

    /// <summary>The one Fragment of a zero-length upload (<c>bytes */0</c>): no body, nothing to store.</summary>
    private async Task<BitsResponse> EmptyUploadAsync(BitsParsedRequest parsed, BitsSession session, BitsArea area, ContentRange range, CancellationToken cancellationToken)
    {
        for (var attempt = 0; session.TotalLength is null; attempt++)
        {
            var updated = await Store.TrySetTotalLengthAsync(WithContentName(session, parsed.Request), range.Total, cancellationToken);
            if (updated is not null)
            {
                session = updated;
                break;
            }

            session = (await Sessions.ReadAgainAsync(session, cancellationToken))!;
            if (session is null || session.State != BitsSessionState.Open || attempt >= MaxStageAttempts)
            {
                return parsed.Fail(BitsErrors.SessionNotFound.Error(BitsSessionResolver.SessionNotFoundMessage));
            }
        }

        if (session.TotalLength != range.Total)
        {
            return parsed.Fail(BitsErrors.TotalMismatch.Error($"Content-Range total {range.Total} differs from the session's total {session.TotalLength}."));
        }

        return area.NotificationType == BitsNotificationType.None
            ? BitsResponse.Ok().WithSession(parsed.Echo).WithReceived(0)
            : await handler.ReplyNotification.NotifyAsync(parsed, session, area, 0, cancellationToken);
    }

    /// <summary>What a Fragment's headers alone can be refused for (in the order the checks always ran); null when fine.</summary>
    private BitsResponse? CheckHeaders(BitsParsedRequest parsed, long contentLength, out ContentRange range)
    {
        var request = parsed.Request;
        range = default;
        if (!string.IsNullOrEmpty(request.ContentEncoding) && !request.ContentEncoding.Trim().Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return parsed.Fail(BitsErrors.ContentEncoding.Error("Content-Encoding other than identity is not supported."));
        }

        if (!ContentRange.TryParse(request.ContentRange, out range, out var problem))
        {
            return parsed.Fail(BitsErrors.RangeInvalid.Error(problem!));
        }

        if (contentLength != range.Length)
        {
            return parsed.Fail(BitsErrors.LengthMismatch.Error($"Content-Length {contentLength} does not match Content-Range {range}."));
        }

        var maxFragmentBytes = handler.Options.MaxFragmentBytes;
        if (contentLength > maxFragmentBytes)
        {
            return parsed.Fail(BitsErrors.FragmentTooLarge.Error($"Fragment of {contentLength} bytes exceeds the limit of {maxFragmentBytes} bytes."));
        }

        return null;
    }

    /// <summary>
    /// The session with the request's <c>Content-Name</c> when none is recorded yet: Windows Vista SP1 and later send it
    /// only on Fragments (rule 6a.9), so the first Fragment records it together with the file size.
    /// </summary>
    internal static BitsSession WithContentName(BitsSession session, BitsRequest request) =>
        string.IsNullOrEmpty(session.ContentName) && !string.IsNullOrEmpty(request.ContentName)
            ? session with { ContentName = request.ContentName }
            : session;
}
