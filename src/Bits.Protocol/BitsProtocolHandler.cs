using System.Globalization;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>
/// The host-agnostic BITS upload server: one method per packet type, each turning a parsed
/// <see cref="BitsRequest"/> into an Ack. All session state lives in the store; the process keeps only the immutable
/// facts of open sessions for a short time (<see cref="BitsSessionCache"/>), never deciding a session's state from them.
/// </summary>
public sealed partial class BitsProtocolHandler
{
    private const int MaxAppendAttempts = 4;
    private const int MaxProtocolEntries = 100;

    /// <summary>How long a Fragment waits for buffer memory (<see cref="BitsServerOptions.FragmentMemoryBytes"/>) before 503.</summary>
    private static readonly TimeSpan FragmentMemoryWait = TimeSpan.FromSeconds(30);

    private readonly IBitsUploadStore _store;
    private readonly BitsServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<BitsProtocolHandler> _logger;

    private readonly BitsNotifier? _notifier;
    private readonly IBitsCompletionSink? _completions;
    private readonly BitsFragmentMemory _fragmentMemory;
    private readonly BitsSessionCache _sessionCache;

    public BitsProtocolHandler(
        IBitsUploadStore store,
        IOptions<BitsServerOptions> options,
        TimeProvider time,
        ILogger<BitsProtocolHandler> logger,
        BitsNotifier? notifier = null,
        IBitsCompletionSink? completions = null)
    {
        _store = store;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _notifier = notifier;
        _completions = completions;
        Areas = new BitsAreaCatalog(_options);
        _fragmentMemory = new BitsFragmentMemory(Math.Max(BitsFragmentMemory.MinimumBufferBytes, _options.FragmentMemoryBytes));
        _sessionCache = new BitsSessionCache(_options.SessionCacheLifetime, time);
    }

    /// <summary>The fragment buffer memory of this handler (for tests).</summary>
    internal BitsFragmentMemory FragmentMemory => _fragmentMemory;

    /// <summary>The upload areas this handler serves.</summary>
    public BitsAreaCatalog Areas { get; }

    /// <summary>Handles one request. Never throws for bad input or storage faults; only cancellation escapes.</summary>
    public async Task<BitsResponse> HandleAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var packetType = BitsPacketTypes.TryParse(request.PacketType, out var parsed) ? parsed : default;
        using var activity = BitsObservability.ActivitySource.StartActivity("BITS " + packetType.ToWireName(), ActivityKind.Internal);
        activity?.SetTag("bits.packet_type", packetType.ToWireName());
        activity?.SetTag("bits.session_id", request.SessionId);

        BitsResponse response;
        try
        {
            response = await DispatchAsync(request, packetType, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (BitsSessionGoneException ex)
        {
            Log.SessionGone(_logger, packetType.ToWireName(), request.SessionId, ex.Message);
            response = BitsResponse.Failure(BitsError.SessionNotFound()).WithSession(EchoSessionId(request));
        }
        catch (BitsStoreUnavailableException ex)
        {
            Log.StorageUnavailable(_logger, packetType.ToWireName(), request.SessionId, ex);
            response = BitsResponse.Failure(BitsError.StorageUnavailable("Storage is temporarily unavailable; retry.")).WithSession(EchoSessionId(request));
        }
        catch (Exception ex)
        {
            Log.UnhandledError(_logger, packetType.ToWireName(), request.SessionId, ex);
            response = BitsResponse.Failure(BitsError.InternalError("The server failed to process the packet.")).WithSession(EchoSessionId(request));
        }

        if (response.Error is { } error)
        {
            Log.PacketFailed(_logger, packetType.ToWireName(), DestinationPath.ForLog(request.SessionId), response.StatusCode, BitsHResults.Format(error.HResult), DestinationPath.ForLog(error.Message)!);
            activity?.SetTag("bits.error_code", BitsHResults.Format(error.HResult));
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
        }

        BitsObservability.RecordPacket(packetType, response, _time.GetElapsedTime(started));
        return response;
    }

    private Task<BitsResponse> DispatchAsync(BitsRequest request, BitsPacketType packetType, CancellationToken cancellationToken)
    {
        if ((request.Method is "GET" or "HEAD") && ReplyId(request.Query) is { } replyId)
        {
            return ReplyAsync(request, replyId, cancellationToken);
        }

        if (!string.Equals(request.Method, BitsHeaders.Method, StringComparison.OrdinalIgnoreCase))
        {
            return Result(BitsResponse.Failure(BitsError.MethodNotAllowed($"Method {request.Method} is not allowed on an upload URL; use BITS_POST.")));
        }

        if (request.OversizedHeader is { } header)
        {
            return Result(Fail(BitsError.InvalidArgument($"Header {header} is longer than {BitsHeaders.MaxHeaderValueLength} characters."), request));
        }

        if (packetType == default)
        {
            return Result(Fail(BitsError.InvalidArgument("BITS-Packet-Type is missing or unknown."), request));
        }

        if (DestinationPath.ContainsBidiControl(request.ContentName))
        {
            // Issue 12, point 12: a name that displays differently from what it is (U+202E "gpj.exe").
            return Result(Fail(BitsError.InvalidArgument("Content-Name contains a bidirectional control character."), request));
        }

        if (request.ContentLength is not { } contentLength)
        {
            return Result(Fail(BitsError.InvalidArgument("Content-Length is required on every BITS packet."), request));
        }

        if (packetType != BitsPacketType.Fragment && contentLength != 0)
        {
            return Result(Fail(BitsError.InvalidArgument($"A {packetType.ToWireName()} packet must have Content-Length 0."), request));
        }

        return packetType switch
        {
            BitsPacketType.Ping => Result(Ping(request)),
            BitsPacketType.CreateSession => CreateSessionAsync(request, cancellationToken),
            BitsPacketType.Fragment => FragmentAsync(request, contentLength, cancellationToken),
            BitsPacketType.CloseSession => CloseSessionAsync(request, cancellationToken),
            BitsPacketType.CancelSession => CancelSessionAsync(request, cancellationToken),
            _ => Result(Fail(BitsError.InvalidArgument("BITS-Packet-Type is unknown."), request)),
        };
    }

    /// <summary>Ping changes nothing, but like IIS it says 501 where uploads are disabled.</summary>
    private BitsResponse Ping(BitsRequest request) =>
        DestinationPath.TryParse(request.RawPath, out var path, out _) && !Areas.Resolve(path).Area.Enabled
            ? BitsResponse.Failure(UploadsDisabled(Areas.Resolve(path).Area))
            : BitsResponse.Ok();

    private static BitsError UploadsDisabled(BitsArea area) =>
        BitsError.UploadsDisabled($"BITS uploads are disabled for area '{area.Name}'.");

    private async Task<BitsResponse> CreateSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        if (!DestinationPath.TryParse(request.RawPath, out var path, out var problem))
        {
            return BitsResponse.Failure(BitsError.InvalidArgument(problem!));
        }

        var destination = Areas.Resolve(path);
        if (!destination.Area.Enabled)
        {
            return BitsResponse.Failure(UploadsDisabled(destination.Area));
        }

        if (!OffersUploadProtocol(request.SupportedProtocols, out problem))
        {
            return BitsResponse.Failure(BitsError.InvalidArgument(problem!));
        }

        if (destination.Area.NotificationType != BitsNotificationType.None && request.Url is not null
            && ReplyUrl(request.Url, Guid.Empty.ToString("B")).Length > BitsNotifier.MaxReplyUrlLength)
        {
            // Refused before any byte is sent: the final Fragment's BITS-Reply-URL could not fit the client's limit.
            return BitsResponse.Failure(ReplyUrlTooLong());
        }

        if (request.User is { } user && destination.Area.MaxSessionsPerUser > 0 && _store is IBitsExpiryStore expiry
            && await expiry.CountOpenSessionsAsync(user, cancellationToken) >= destination.Area.MaxSessionsPerUser)
        {
            return BitsResponse.Failure(BitsError.SessionLimitReached(
                $"User already holds {destination.Area.MaxSessionsPerUser} open sessions; close or cancel one, or retry later."));
        }

        if (!destination.Area.AllowOverwrites && await _store.DestinationExistsAsync(destination.Container, destination.BlobName, cancellationToken))
        {
            return BitsResponse.Failure(BitsError.DestinationExists($"'{path}' already exists and overwriting is not allowed."));
        }

        var session = new BitsSession
        {
            Id = BitsSessionIds.NewId(),
            Destination = destination.BlobName,
            Container = destination.Container,
            Area = destination.Area.Name,
            ContentName = request.ContentName,
            User = request.User,
            Owner = request.User is null ? null : OwnerOf(request),
            CreatedAt = _time.GetUtcNow(),
        };
        await _store.CreateSessionAsync(session, cancellationToken);
        Log.SessionCreated(_logger, session.Id, DestinationPath.ForLog(path)!);
        BitsObservability.ActiveSessions.Add(1);
        return BitsResponse.Ok()
            .With(BitsHeaders.Protocol, BitsHeaders.UploadProtocolGuid)
            .WithSession(session.Id)
            .With(BitsHeaders.AcceptEncoding, "identity");
    }

    private async Task<BitsResponse> FragmentAsync(BitsRequest request, long contentLength, CancellationToken cancellationToken)
    {
        // A session remembered from an earlier Fragment needs no read (see BitsSessionCache); otherwise the session row
        // is read first. Either way the session is known before any body memory is leased, so a packet for an unknown
        // or foreign session never takes fragment memory from the others.
        var cached = FindCachedSession(request);
        var headerFailure = CheckFragmentHeaders(request, contentLength, out var range);
        var plain = cached is not null && headerFailure is null && !range.IsEmptyUpload;
        var (session, area, failure) = plain
            ? (cached!.Value.Session, cached.Value.Area, null)
            : await FindOpenSessionAsync(request, cancellationToken); // not the plain case: from a fresh read
        if (failure is not null || headerFailure is not null || range.IsEmptyUpload)
        {
            return failure ?? headerFailure ?? await EmptyUploadAsync(request, session!, area!, range, cancellationToken);
        }

        var length = checked((int)contentLength);
        using var buffer = await _fragmentMemory.TryAcquireAsync(length, FragmentMemoryWait, _time, cancellationToken);
        if (buffer is null)
        {
            // Busy, unless a fresh read says the session is gone (the cache never decides a refusal).
            var (_, _, gone) = plain ? await FindOpenSessionAsync(request, cancellationToken) : default;
            return gone ?? Fail(BitsError.ServerBusy("The server is receiving too many fragments at once; retry."), request);
        }

        var bodyFailure = await ReadBodyAsync(request.Body, buffer.Memory, cancellationToken);
        var echo = EchoSessionId(request);
        if (plain)
        {
            // From the cache only the plain case: the whole body, the known size, not the last bytes of the file, and
            // stored at exactly the client's offset. Anything else is decided from a fresh read of the session.
            if (bodyFailure is null && session!.TotalLength == range.Total && range.Last + 1 < range.Total
                && await TryAppendCachedAsync(session, range, buffer.Memory, cancellationToken) is { } stored)
            {
                return BitsResponse.Ok().WithSession(echo).WithReceived(stored);
            }

            _sessionCache.Forget(session!.Id);
            (session, area, failure) = await FindOpenSessionAsync(request, cancellationToken);
            if (failure is not null)
            {
                return failure;
            }
        }

        for (var attempt = 0; session!.TotalLength is null; attempt++)
        {
            if (range.Total > area!.MaxUploadBytes)
            {
                return Fail(BitsError.TooLarge($"Upload of {range.Total} bytes exceeds the limit of {area.MaxUploadBytes} bytes."), request);
            }

            var updated = await _store.TrySetTotalLengthAsync(session, range.Total, cancellationToken);
            if (updated is not null)
            {
                session = updated;
                break;
            }

            session = await _store.GetSessionAsync(session.Id, cancellationToken);
            if (session is null || session.State != BitsSessionState.Open || attempt >= MaxAppendAttempts)
            {
                return Fail(BitsError.SessionNotFound(), request);
            }
        }

        if (session.TotalLength != range.Total)
        {
            return Fail(BitsError.InvalidArgument($"Content-Range total {range.Total} differs from the session's total {session.TotalLength}."), request);
        }

        if (bodyFailure is not null)
        {
            // Rules 6a.1 and 6a.10: a body that never fully arrived stores nothing, and the failure is transient (the
            // connection dropped or the body was too slow), so the client is told to retry, not that its request is bad.
            Log.BodyIncomplete(_logger, session.Id, contentLength, bodyFailure);
            return Fail(BitsError.BodyIncomplete("The fragment body ended before Content-Length bytes arrived; nothing was stored. Send the range again."), request);
        }

        var (ack, received) = await AppendAsync(session, range, buffer.Memory, echo, cancellationToken);

        // The bytes are stored: their memory goes back now, not after the back-end's answer (issue 12, point 5).
        buffer.Dispose();
        if (ack.StatusCode == 200 && received == range.Total && area!.NotificationType != BitsNotificationType.None)
        {
            return await NotifyBackEndAsync(request, session, area, received, echo, cancellationToken);
        }

        if (ack.StatusCode == 200 && received < range.Total)
        {
            _sessionCache.Remember(session);
        }

        return ack;
    }

    /// <summary>
    /// One conditional append for a session known from the cache; the new received length when stored, else null
    /// (nothing stored: a gap, a duplicate, an overlap, or the session's staging is gone).
    /// </summary>
    private async Task<long?> TryAppendCachedAsync(BitsSession session, ContentRange range, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        try
        {
            var result = await _store.AppendAsync(session, range.First, body, cancellationToken);
            if (result.Appended)
            {
                BitsObservability.BytesReceived.Add(body.Length);
                return result.ReceivedLength;
            }
        }
        catch (BitsSessionGoneException)
        {
            // Closed, cancelled or expired elsewhere: the fresh read tells which.
        }

        return null;
    }

    /// <summary>Close and Cancel end a session: this instance stops using what it remembers of it first.</summary>
    private void ForgetCachedSession(BitsRequest request)
    {
        if (BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            _sessionCache.Forget(id);
        }
    }

    /// <summary>The cached session the request names, when its URL and user match it as a fresh read would require.</summary>
    private (BitsSession Session, BitsArea Area)? FindCachedSession(BitsRequest request)
    {
        if (_sessionCache.Lifetime <= TimeSpan.Zero
            || !BitsSessionIds.TryNormalize(request.SessionId, out var id)
            || !_sessionCache.TryGet(id, out var session)
            || !DestinationPath.TryParse(request.RawPath, out var path, out _))
        {
            return null;
        }

        var destination = Areas.Resolve(path);
        return BelongsTo(session, destination, OwnerOf(request)) && destination.Area.Enabled ? (session, destination.Area) : null;
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

    /// <summary>The request's owner key: what the host authenticated (<see cref="BitsRequest.Owner"/>), else the user name.</summary>
    private static string? OwnerOf(BitsRequest request) => request.Owner ?? request.User;

    /// <summary>What a Fragment's headers alone can be refused for (in the order the checks always ran); null when fine.</summary>
    private BitsResponse? CheckFragmentHeaders(BitsRequest request, long contentLength, out ContentRange range)
    {
        range = default;
        if (!string.IsNullOrEmpty(request.ContentEncoding) && !request.ContentEncoding.Trim().Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return Fail(BitsError.InvalidArgument("Content-Encoding other than identity is not supported."), request);
        }

        if (!ContentRange.TryParse(request.ContentRange, out range, out var problem))
        {
            return Fail(BitsError.InvalidArgument(problem!), request);
        }

        if (contentLength != range.Length)
        {
            return Fail(BitsError.InvalidArgument($"Content-Length {contentLength} does not match Content-Range {range}."), request);
        }

        if (contentLength > _options.MaxFragmentBytes)
        {
            return Fail(BitsError.FragmentTooLarge($"Fragment of {contentLength} bytes exceeds the limit of {_options.MaxFragmentBytes} bytes."), request);
        }

        return null;
    }

    /// <summary>The one Fragment of a zero-length upload (<c>bytes */0</c>): no body, nothing to append.</summary>
    private async Task<BitsResponse> EmptyUploadAsync(BitsRequest request, BitsSession session, BitsArea area, ContentRange range, CancellationToken cancellationToken)
    {
        for (var attempt = 0; session.TotalLength is null; attempt++)
        {
            var updated = await _store.TrySetTotalLengthAsync(session, range.Total, cancellationToken);
            if (updated is not null)
            {
                session = updated;
                break;
            }

            session = (await _store.GetSessionAsync(session.Id, cancellationToken))!;
            if (session is null || session.State != BitsSessionState.Open || attempt >= MaxAppendAttempts)
            {
                return Fail(BitsError.SessionNotFound(), request);
            }
        }

        if (session.TotalLength != range.Total)
        {
            return Fail(BitsError.InvalidArgument($"Content-Range total {range.Total} differs from the session's total {session.TotalLength}."), request);
        }

        var echo = EchoSessionId(request);
        return area.NotificationType == BitsNotificationType.None
            ? BitsResponse.Ok().WithSession(echo).WithReceived(0)
            : await NotifyBackEndAsync(request, session, area, 0, echo, cancellationToken);
    }

    /// <summary>Reads exactly the body into <paramref name="destination"/>; an early end or a broken connection is returned, not thrown.</summary>
    private static async Task<Exception?> ReadBodyAsync(Stream body, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            await body.ReadExactlyAsync(destination, cancellationToken);
            return null;
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException)
        {
            return ex;
        }
    }

    private async Task<(BitsResponse Ack, long Received)> AppendAsync(BitsSession session, ContentRange range, ReadOnlyMemory<byte> body, string? echo, CancellationToken cancellationToken)
    {
        var offset = range.First;
        var data = body;
        long received = 0;
        for (var attempt = 0; attempt < MaxAppendAttempts; attempt++)
        {
            var result = await _store.AppendAsync(session, offset, data, cancellationToken);
            received = result.ReceivedLength;
            if (result.Appended)
            {
                BitsObservability.BytesReceived.Add(data.Length);
                return (BitsResponse.Ok().WithSession(echo).WithReceived(received), received);
            }

            if (range.First > received)
            {
                // A gap: store nothing, tell the client where to resume.
                return (BitsResponse.RangeNotSatisfiable(received).WithSession(echo), received);
            }

            if (range.Last < received)
            {
                // A pure duplicate (e.g. a retransmit whose first Ack was lost).
                return (BitsResponse.Ok().WithSession(echo).WithReceived(received), received);
            }

            // Overlap: store only the bytes not yet stored.
            Log.OverlapTrimmed(_logger, session.Id, range.First, received);
            offset = received;
            data = body[(int)(received - range.First)..];
        }

        return (BitsResponse.RangeNotSatisfiable(received).WithSession(echo), received);
    }

    /// <summary>
    /// Upload-reply: all bytes are in, so the back-end is told before the final Fragment is acked. A retransmitted final
    /// Fragment after success gets the cached Ack without a second notification; after a failure it notifies again.
    /// </summary>
    private async Task<BitsResponse> NotifyBackEndAsync(BitsRequest request, BitsSession session, BitsArea area, long received, string? echo, CancellationToken cancellationToken)
    {
        if (_store is not IBitsReplyStore replies || _notifier is null || request.Url is null || request.BackEndUrl is null)
        {
            return Fail(BitsError.InternalError("Upload-reply is not available on this server."), request);
        }

        if (ReplyUrl(request.Url, session.Id).Length > BitsNotifier.MaxReplyUrlLength)
        {
            // Checked before the back-end is told: the client could not use the reply (E_INVALIDARG above 2,200 characters).
            return Fail(ReplyUrlTooLong(), request).WithReceived(received);
        }

        var outcome = session.Notification;
        if (outcome is null)
        {
            var result = await _notifier.NotifyAsync(area, session, request.BackEndUrl, replies, cancellationToken);
            if (result.Error is { } error)
            {
                return Fail(error, request).WithReceived(received);
            }

            outcome = result.Outcome!;
            await replies.RecordNotificationAsync(session, outcome, cancellationToken);
        }

        return BitsResponse.Ok().WithSession(echo).WithReceived(received).With(BitsHeaders.ReplyUrl, outcome.StaticReplyUrl ?? ReplyUrl(request.Url, session.Id));
    }

    private static BitsError ReplyUrlTooLong() => BitsError.InvalidArgument(
        $"The reply URL of this upload would be longer than {BitsNotifier.MaxReplyUrlLength} characters (the Windows client's limit); use a shorter name or query string.");

    /// <summary>The absolute URL of a session's reply, served by this endpoint: the upload URL plus <c>bits-reply=&lt;id&gt;</c>.</summary>
    internal static string ReplyUrl(Uri uploadUrl, string sessionId)
    {
        var builder = new UriBuilder(uploadUrl);
        var key = Guid.Parse(sessionId).ToString("N");
        builder.Query = (builder.Query.Length > 1 ? builder.Query[1..] + "&" : string.Empty) + BitsHeaders.ReplyQueryParameter + "=" + key;
        return builder.Uri.AbsoluteUri;
    }

    private static string? ReplyId(string query)
    {
        foreach (var pair in query.TrimStart('?').Split('&'))
        {
            if (pair.StartsWith(BitsHeaders.ReplyQueryParameter + "=", StringComparison.Ordinal))
            {
                return pair[(BitsHeaders.ReplyQueryParameter.Length + 1)..];
            }
        }

        return null;
    }

    /// <summary>GET/HEAD of a reply: 200 or 206 for one byte range, with Content-Length and Last-Modified.</summary>
    private async Task<BitsResponse> ReplyAsync(BitsRequest request, string replyId, CancellationToken cancellationToken)
    {
        var notFound = BitsResponse.Download(404, null, 0);
        if (_store is not IBitsReplyStore replies || !BitsSessionIds.TryNormalize(replyId, out var id)
            || !DestinationPath.TryParse(request.RawPath, out var path, out _))
        {
            return notFound;
        }

        var destination = Areas.Resolve(path);
        var session = await _store.GetSessionAsync(id, cancellationToken);
        if (session is null || session.State != BitsSessionState.Open || session.Notification is not { StaticReplyUrl: null }
            || !BelongsTo(session, destination, OwnerOf(request)))
        {
            return notFound;
        }

        var head = request.Method == "HEAD";
        var whole = await replies.OpenReplyAsync(session, 0, null, headOnly: true, cancellationToken);
        if (!ByteRange.TryParse(request.Range, whole.TotalLength, out var range))
        {
            return BitsResponse.Download(416, null, 0).With("Content-Range", "bytes */" + whole.TotalLength.ToString(CultureInfo.InvariantCulture));
        }

        var status = range is null ? 200 : 206;
        var (from, to) = range ?? (0, whole.TotalLength - 1);
        var length = whole.TotalLength == 0 ? 0 : to - from + 1;
        var content = head || length == 0 ? null : (await replies.OpenReplyAsync(session, from, to, headOnly: false, cancellationToken)).Content;
        var response = BitsResponse.Download(status, content, length)
            .With("Accept-Ranges", "bytes")
            .With("Content-Type", "application/octet-stream")
            .With("Last-Modified", whole.LastModified.ToString("R", CultureInfo.InvariantCulture));
        if (range is not null)
        {
            response.With("Content-Range", string.Create(CultureInfo.InvariantCulture, $"bytes {from}-{to}/{whole.TotalLength}"));
        }

        return response;
    }

    private async Task<BitsResponse> CloseSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        ForgetCachedSession(request);
        var (session, area, failure) = await FindSessionAsync(request, requireEnabled: true, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }

        var echo = EchoSessionId(request);
        switch (session!.State)
        {
            case BitsSessionState.Closed:
                return BitsResponse.Ok().WithSession(echo);
            case BitsSessionState.Cancelled:
                return Fail(BitsError.SessionNotFound("The session was cancelled."), request);
            case BitsSessionState.Discarded:
                return Fail(BitsError.InvalidArgument("The session was discarded without publishing."), request);
        }

        var received = session.TotalLength is null ? 0 : await _store.GetReceivedLengthAsync(session, cancellationToken);
        if (session.TotalLength is not { } total || received != total)
        {
            await _store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
            BitsObservability.ActiveSessions.Add(-1);
            Log.IncompleteDiscarded(_logger, session.Id, received, session.TotalLength);
            return Fail(BitsError.InvalidArgument($"Close-Session before all bytes arrived ({received} of {session.TotalLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}); the upload was discarded."), request);
        }

        if (area!.NotificationType != BitsNotificationType.None)
        {
            if (session.Notification is null)
            {
                await _store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
                BitsObservability.ActiveSessions.Add(-1);
                return Fail(BitsError.InvalidArgument("Close-Session before the server application accepted the upload; the upload was discarded."), request);
            }

            if (!session.Notification.CopyToDestination)
            {
                // The back-end has the data; without BITS-Copy-File-To-Destination nothing is published (IIS).
                await _store.DiscardAsync(session, BitsSessionState.Closed, cancellationToken);
                BitsObservability.ActiveSessions.Add(-1);
                return BitsResponse.Ok().WithSession(echo);
            }
        }

        var started = _time.GetTimestamp();
        var result = await _store.PublishAsync(session, area.AllowOverwrites, cancellationToken);
        if (result == PublishResult.DestinationExists)
        {
            await _store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
            BitsObservability.ActiveSessions.Add(-1);
            return Fail(BitsError.DestinationExists($"'{session.Destination}' already exists and overwriting is not allowed; the upload was discarded."), request);
        }

        var elapsed = _time.GetElapsedTime(started);
        BitsObservability.PublishDuration.Record(elapsed.TotalMilliseconds);
        BitsObservability.ActiveSessions.Add(-1);
        Log.Published(_logger, session.Id, DestinationPath.ForLog(session.Destination)!, total, elapsed.TotalMilliseconds);
        await SendCompletionEventAsync(session, area, total, cancellationToken);
        return BitsResponse.Ok().WithSession(echo);
    }

    /// <summary>Best effort after the publish: the file is there whatever happens to the event (logged if lost).</summary>
    private async Task SendCompletionEventAsync(BitsSession session, BitsArea area, long size, CancellationToken cancellationToken)
    {
        if (_completions is null || string.IsNullOrEmpty(area.CompletionQueue))
        {
            return;
        }

        var completion = new BitsCompletionEvent(
            session.Id, area.Name, session.Container, session.Destination, size, session.User, session.ContentName, session.CreatedAt, _time.GetUtcNow());
        try
        {
            await _completions.PublishAsync(area.CompletionQueue, completion, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.CompletionEventLost(_logger, session.Id, area.CompletionQueue, ex);
        }
    }

    private async Task<BitsResponse> CancelSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        ForgetCachedSession(request);
        var (session, _, failure) = await FindSessionAsync(request, requireEnabled: false, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }

        if (session!.State == BitsSessionState.Open)
        {
            await _store.DiscardAsync(session, BitsSessionState.Cancelled, cancellationToken);
            BitsObservability.ActiveSessions.Add(-1);
            Log.Cancelled(_logger, session.Id);
        }

        return BitsResponse.Ok().WithSession(EchoSessionId(request));
    }

    private async Task<(BitsSession? Session, BitsArea? Area, BitsResponse? Failure)> FindOpenSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        var (session, area, failure) = await FindSessionAsync(request, requireEnabled: true, cancellationToken);
        if (failure is null && session!.State != BitsSessionState.Open)
        {
            // Rule 6a.4: a Fragment for a closed or cancelled session never changes anything.
            return (null, null, Fail(BitsError.SessionNotFound("The session is closed."), request));
        }

        return (session, area, failure);
    }

    /// <summary>
    /// The session the request names, with its recorded area (see <see cref="BelongsTo"/>). With
    /// <paramref name="requireEnabled"/> (Fragment, Close-Session; never Cancel-Session) a disabled area answers 501.
    /// </summary>
    private async Task<(BitsSession? Session, BitsArea? Area, BitsResponse? Failure)> FindSessionAsync(BitsRequest request, bool requireEnabled, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.SessionId))
        {
            return (null, null, Fail(BitsError.InvalidArgument("BITS-Session-Id is required."), request));
        }

        if (!DestinationPath.TryParse(request.RawPath, out var path, out var problem))
        {
            return (null, null, Fail(BitsError.InvalidArgument(problem!), request));
        }

        if (!BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            return (null, null, Fail(BitsError.SessionNotFound(), request));
        }

        var destination = Areas.Resolve(path);
        var session = await _store.GetSessionAsync(id, cancellationToken);

        if (session is null || !BelongsTo(session, destination, OwnerOf(request)))
        {
            return (null, null, Fail(BitsError.SessionNotFound(), request));
        }

        if (requireEnabled && !destination.Area.Enabled)
        {
            return (null, null, Fail(UploadsDisabled(destination.Area), request));
        }

        return (session, destination.Area, null);
    }

    private static bool OffersUploadProtocol(string? supported, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(supported))
        {
            problem = "BITS-Supported-Protocols is required on Create-Session.";
            return false;
        }

        var entries = supported.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (entries.Length > MaxProtocolEntries)
        {
            problem = $"BITS-Supported-Protocols lists more than {MaxProtocolEntries} protocols.";
            return false;
        }

        foreach (var entry in entries)
        {
            if (entry.Equals(BitsHeaders.UploadProtocolGuid, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        problem = "No protocol in BITS-Supported-Protocols is supported by this server.";
        return false;
    }

    private static BitsResponse Fail(BitsError error, BitsRequest request) =>
        BitsResponse.Failure(error).WithSession(EchoSessionId(request));

    /// <summary>
    /// The client's session id, echoed verbatim when it is a well-formed id spelled in visible ASCII (never arbitrary
    /// text). <see cref="Guid.TryParse(string?, out Guid)"/> also accepts spellings with white space inside (CR, LF,
    /// U+2028 in the <c>{0x..,0x..}</c> form); those get the canonical id instead, so no echo can break a header.
    /// </summary>
    private static string? EchoSessionId(BitsRequest request)
    {
        if (!BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            return null;
        }

        var verbatim = request.SessionId!.Trim();
        return verbatim.All(c => c is > ' ' and < '\u007F') ? verbatim : id;
    }

    private static Task<BitsResponse> Result(BitsResponse response) => Task.FromResult(response);

    private static partial class Log
    {
        [LoggerMessage(1001, LogLevel.Information, "Created session {SessionId} for {Destination}", EventName = "SessionCreated")]
        public static partial void SessionCreated(ILogger logger, string sessionId, string destination);

        [LoggerMessage(1002, LogLevel.Information, "Published session {SessionId} to {Destination}: {Bytes} bytes in {ElapsedMs} ms", EventName = "Published")]
        public static partial void Published(ILogger logger, string sessionId, string destination, long bytes, double elapsedMs);

        [LoggerMessage(1003, LogLevel.Information, "Cancelled session {SessionId}", EventName = "Cancelled")]
        public static partial void Cancelled(ILogger logger, string sessionId);

        [LoggerMessage(1004, LogLevel.Warning, "{PacketType} for session {SessionId} failed: {StatusCode} {ErrorCode} {Reason}", EventName = "PacketFailed")]
        public static partial void PacketFailed(ILogger logger, string packetType, string? sessionId, int statusCode, string errorCode, string reason);

        [LoggerMessage(1005, LogLevel.Warning, "Storage unavailable while handling {PacketType} for session {SessionId}", EventName = "StorageUnavailable")]
        public static partial void StorageUnavailable(ILogger logger, string packetType, string? sessionId, Exception exception);

        [LoggerMessage(1006, LogLevel.Error, "Unhandled error while handling {PacketType} for session {SessionId}", EventName = "UnhandledError")]
        public static partial void UnhandledError(ILogger logger, string packetType, string? sessionId, Exception exception);

        [LoggerMessage(1007, LogLevel.Warning, "Fragment body for session {SessionId} ended before {ContentLength} bytes; nothing stored", EventName = "BodyIncomplete")]
        public static partial void BodyIncomplete(ILogger logger, string sessionId, long contentLength, Exception exception);

        [LoggerMessage(1008, LogLevel.Debug, "Fragment for session {SessionId} at {First} overlaps stored bytes up to {Received}; storing only new bytes", EventName = "OverlapTrimmed")]
        public static partial void OverlapTrimmed(ILogger logger, string sessionId, long first, long received);

        [LoggerMessage(1010, LogLevel.Warning, "{PacketType} for session {SessionId}: staged data is gone ({Reason})", EventName = "SessionGone")]
        public static partial void SessionGone(ILogger logger, string packetType, string? sessionId, string reason);

        [LoggerMessage(1011, LogLevel.Error, "Completion event for session {SessionId} could not be sent to queue {Queue}", EventName = "CompletionEventLost")]
        public static partial void CompletionEventLost(ILogger logger, string sessionId, string queue, Exception exception);

        [LoggerMessage(1009, LogLevel.Warning, "Close-Session for incomplete session {SessionId} ({Received} of {Total} bytes): discarded", EventName = "IncompleteDiscarded")]
        public static partial void IncompleteDiscarded(ILogger logger, string sessionId, long received, long? total);
    }
}
