namespace Bits.Protocol;

/// <summary>
/// The Close-Session packet: commits metadata, never copies the file's bytes (rule 6a.15). The store's publish is
/// resumable, so a Close retried after a time-out or on another instance continues where the first one stopped.
/// </summary>
internal sealed class BitsCloseSessionPacket(BitsProtocolHandler handler)
{
    private const int MaxAttempts = 4;

    private IBitsUploadStore Store => handler.Store;

    public async Task<BitsResponse> HandleAsync(BitsParsedRequest parsed, CancellationToken cancellationToken)
    {
        handler.Sessions.Forget(parsed);
        var (session, area, failure) = await handler.Sessions.FindAsync(parsed, requireEnabled: true, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }

        var echo = parsed.Echo;
        switch (session!.State)
        {
            case BitsSessionState.Closed:
                if (session.PendingEvent is not null)
                {
                    // A crash or a queue failure after the publish left the event unsent: this repeated Close sends it.
                    await handler.Events.DeliverAsync(session, area!, cancellationToken);
                }

                return BitsResponse.Ok().WithSession(echo);
            case BitsSessionState.Cancelled:
                return parsed.Fail(BitsErrors.SessionCancelled.Error("The session was cancelled."));
            case BitsSessionState.Discarded:
                // Discarded by another session's commit (a live record marked so) or earlier by a Close: the client
                // starts the upload again (500 + BG_E_SESSION_NOT_FOUND), it is never told a fatal 400.
                await Store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
                return parsed.Fail(BitsErrors.SessionDiscarded.Error("The session's staged data was discarded; start the upload again."));
        }

        if (handler.Sessions.IdleTooLong(session) is { } idle)
        {
            return await handler.Sessions.DiscardIdleAsync(parsed, session, idle, cancellationToken);
        }

        if (session.TotalLength is null && area!.NotificationType == BitsNotificationType.None)
        {
            // Rule 6a.13: a session that received no Fragment publishes an empty file.
            session = await EmptyFileAsync(BitsFragmentPacket.WithContentName(session, parsed.Request), cancellationToken);
            if (session is null)
            {
                return parsed.Fail(BitsErrors.SessionNotFound.Error(BitsSessionResolver.SessionNotFoundMessage));
            }
        }

        var received = session.ReceivedLength;
        if (session.TotalLength is not { } total || received != total)
        {
            await Store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
            BitsProtocolHandler.Log.IncompleteDiscarded(handler.Logger, session.Id, received, session.TotalLength);
            return parsed.Fail(BitsErrors.CloseIncomplete.Error($"Close-Session before all bytes arrived ({received} of {session.TotalLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}); the upload was discarded."));
        }

        if (area!.NotificationType != BitsNotificationType.None)
        {
            if (session.Notification is null)
            {
                await Store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
                return parsed.Fail(BitsErrors.CloseBeforeBackEnd.Error("Close-Session before the server application accepted the upload; the upload was discarded."));
            }

            if (!session.Notification.CopyToDestination)
            {
                // The back-end has the data; without BITS-Copy-File-To-Destination nothing is published (IIS).
                await Store.DiscardAsync(session, BitsSessionState.Closed, cancellationToken);
                return BitsResponse.Ok().WithSession(echo);
            }

            if (Store is IBitsReplyStore replies && !await handler.DestinationCopy.ContinueAsync(replies, session, cancellationToken))
            {
                // The server-side copy is not done within this request's budget: the client retries Close-Session
                // later, and that Close continues where this one stopped (on any instance).
                return parsed.Fail(BitsErrors.CopyRunning.Error("The copy of the upload into its destination is still running; retry Close-Session."));
            }
        }

        var started = handler.Time.GetTimestamp();

        // Before the commit, so that a crash at any later step leaves the owed event recorded (at least once).
        session = await handler.Events.MarkAsync(session, area, cancellationToken);
        var result = await Store.PublishAsync(session, area.AllowOverwrites, cancellationToken);
        switch (result)
        {
            case PublishResult.DestinationExists:
                await Store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
                return parsed.Fail(BitsErrors.CloseDestinationExists.Error($"'{session.Destination}' already exists and overwriting is not allowed; the upload was discarded."));
            case PublishResult.Discarded:
                BitsProtocolHandler.Log.StagedDataDiscarded(handler.Logger, session.Id, session.Destination);
                return parsed.Fail(BitsErrors.SessionOverwritten.Error("The session's staged data was discarded by another upload to the same name; start the upload again."));
        }

        var elapsed = handler.Time.GetElapsedTime(started);
        handler.Metrics.PublishDuration.Record(elapsed.TotalSeconds);
        BitsProtocolHandler.Log.Published(handler.Logger, session.Id, DestinationPath.ForLog(session.Destination)!, total, elapsed.TotalMilliseconds);
        await handler.Events.SendAsync(session with { State = BitsSessionState.Closed }, area, cancellationToken);
        return BitsResponse.Ok().WithSession(echo);
    }

    /// <summary>Records a file size of 0 for a session that received no Fragment; null when the session went away.</summary>
    private async Task<BitsSession?> EmptyFileAsync(BitsSession session, CancellationToken cancellationToken)
    {
        for (var attempt = 0; session.TotalLength is null; attempt++)
        {
            var updated = await Store.TrySetTotalLengthAsync(session, 0, cancellationToken);
            if (updated is not null)
            {
                return updated;
            }

            var fresh = await handler.Sessions.ReadAgainAsync(session, cancellationToken);
            if (fresh is null || fresh.State != BitsSessionState.Open || attempt >= MaxAttempts)
            {
                return null;
            }

            session = fresh;
        }

        return session;
    }
}
