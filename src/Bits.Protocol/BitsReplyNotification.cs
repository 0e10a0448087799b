namespace Bits.Protocol;

/// <summary>
/// Upload-reply: once all bytes are in, the back-end is told (<see cref="BitsNotifier"/>) before the final Fragment is
/// acked, its answer is recorded on the session, and the Ack carries <c>BITS-Reply-URL</c>. A retransmitted final
/// Fragment after success gets the recorded answer without a second notification; after a failure it notifies again.
/// </summary>
internal sealed class BitsReplyNotification(BitsProtocolHandler handler, BitsNotifier? notifier)
{
    public async Task<BitsResponse> NotifyAsync(BitsParsedRequest parsed, BitsSession session, BitsArea area, long received, CancellationToken cancellationToken)
    {
        var request = parsed.Request;
        if (handler.Store is not IBitsReplyStore replies || notifier is null || request.Url is null || request.BackEndUrl is null)
        {
            return parsed.Fail(BitsErrors.ReplyUnavailable.Error("Upload-reply is not available on this server."));
        }

        if (ReplyUrl(request.Url, session.Id).Length > BitsNotifier.MaxReplyUrlLength)
        {
            // Checked before the back-end is told: the client could not use the reply (E_INVALIDARG above 2,200 characters).
            return parsed.Fail(ReplyUrlTooLong()).WithReceived(received);
        }

        var outcome = session.Notification;
        if (outcome is null)
        {
            var result = await notifier.NotifyAsync(area, session, request.BackEndUrl, replies, cancellationToken);
            if (result.Error is { } error)
            {
                return parsed.Fail(error).WithReceived(received);
            }

            outcome = result.Outcome!;
            await replies.RecordNotificationAsync(session, outcome, cancellationToken);
            if (outcome.CopyToDestination)
            {
                // The copy starts when the back-end answers; Close-Session continues it (503 until it is done).
                await handler.DestinationCopy.StartAsync(replies, session, cancellationToken);
            }
        }

        return BitsResponse.Ok().WithSession(parsed.Echo).WithReceived(received).With(BitsHeaders.ReplyUrl, outcome.StaticReplyUrl ?? ReplyUrl(request.Url, session.Id));
    }

    public static BitsError ReplyUrlTooLong() => BitsErrors.ReplyUrlTooLong.Error(
        $"The reply URL of this upload would be longer than {BitsNotifier.MaxReplyUrlLength} characters (the Windows client's limit); use a shorter name or query string.");

    /// <summary>The absolute URL of a session's reply, served by this endpoint: the upload URL plus <c>bits-reply=&lt;id&gt;</c>.</summary>
    internal static string ReplyUrl(Uri uploadUrl, string sessionId)
    {
        var builder = new UriBuilder(uploadUrl);
        var key = Guid.Parse(sessionId).ToString("N");
        builder.Query = (builder.Query.Length > 1 ? builder.Query[1..] + "&" : string.Empty) + BitsHeaders.ReplyQueryParameter + "=" + key;
        return builder.Uri.AbsoluteUri;
    }
}
