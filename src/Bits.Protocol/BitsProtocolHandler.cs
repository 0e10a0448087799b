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
    private const int MaxProtocolEntries = 100;

    /// <summary>
    /// Idle time after which a session's staged data cannot be trusted: storage deletes uncommitted blocks 7 days after
    /// a blob's last Put Block, so a session idle for longer than 6 days answers BG_E_SESSION_NOT_FOUND and starts over.
    /// </summary>
    internal static readonly TimeSpan StagedIdleLimit = TimeSpan.FromDays(6);

    private readonly IBitsUploadStore _store;
    private readonly BitsServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<BitsProtocolHandler> _logger;

    private readonly BitsNotifier? _notifier;
    private readonly BitsFragmentMemory _fragmentMemory;
    private readonly BitsSessionCache _sessionCache;
    private readonly BitsFragmentPacket _fragment;
    private readonly BitsCloseSessionPacket _close;
    private readonly BitsDestinationCopy _copy;

    public BitsProtocolHandler(
        IBitsUploadStore store,
        IOptions<BitsServerOptions> options,
        TimeProvider time,
        ILogger<BitsProtocolHandler> logger,
        BitsNotifier? notifier = null,
        IBitsCompletionSink? completions = null,
        BitsMetrics? metrics = null)
    {
        _store = store;
        Metrics = metrics ?? BitsMetrics.Unshared();
        _options = options.Value;
        _time = time;
        _logger = logger;
        _notifier = notifier;
        Events = new BitsCompletionEvents(store, completions, time, logger);
        Areas = new BitsAreaCatalog(_options);
        _fragmentMemory = new BitsFragmentMemory(
            Math.Max(BitsFragmentMemory.MinimumBufferBytes, _options.FragmentMemoryBytes),
            BitsFragmentBody.MaxHeldBytes(_options.MaxFragmentBytes));
        _sessionCache = new BitsSessionCache(_options.SessionCacheLifetime, time);
        _fragment = new BitsFragmentPacket(this);
        _close = new BitsCloseSessionPacket(this);
        _copy = new BitsDestinationCopy(this, _options.CopyTimeBudget);
    }

    internal IBitsUploadStore Store => _store;

    /// <summary>The server's instruments (from the host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>; unshared ones when built without).</summary>
    public BitsMetrics Metrics { get; }

    internal TimeProvider Time => _time;

    /// <summary>The log message of a session that is not there (or not the request's).</summary>
    internal const string SessionNotFoundMessage = "The session does not exist or has expired.";

    internal ILogger Logger => _logger;

    internal BitsSessionCache SessionCache => _sessionCache;

    /// <summary>The <c>BITS-Copy-File-To-Destination</c> copy, in slices of at most <see cref="BitsServerOptions.CopyTimeBudget"/>.</summary>
    internal BitsDestinationCopy DestinationCopy => _copy;

    /// <summary>Completion events, at least once where the store supports it.</summary>
    internal BitsCompletionEvents Events { get; }

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
            response = BitsResponse.Failure(BitsErrors.StagedDataGone.Error(SessionNotFoundMessage)).WithSession(EchoSessionId(request));
        }
        catch (BitsStoreUnavailableException ex)
        {
            Log.StorageUnavailable(_logger, packetType.ToWireName(), request.SessionId, ex);
            response = BitsResponse.Failure(ex.Reason.Error("Storage is temporarily unavailable; retry.")).WithSession(EchoSessionId(request));
        }
        catch (Exception ex)
        {
            Log.UnhandledError(_logger, packetType.ToWireName(), request.SessionId, ex);
            response = BitsResponse.Failure(BitsErrors.InternalError.Error("The server failed to process the packet.")).WithSession(EchoSessionId(request));
        }

        if (response.Error is { } error)
        {
            Log.PacketFailed(_logger, packetType.ToWireName(), DestinationPath.ForLog(request.SessionId), response.StatusCode, BitsHResults.Format(error.HResult), error.Code, DestinationPath.ForLog(error.Message)!);
            activity?.SetTag("bits.error_code", BitsHResults.Format(error.HResult));
            activity?.SetTag("bits.error_reason", error.Code);
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
        }

        Metrics.RecordPacket(packetType, response, _time.GetElapsedTime(started));
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
            return Result(BitsResponse.Failure(BitsErrors.MethodNotAllowed.Error($"Method {request.Method} is not allowed on an upload URL; use BITS_POST.")));
        }

        if (request.OversizedHeader is { } header)
        {
            return Result(Fail(BitsErrors.HeaderTooLong.Error($"Header {header} is longer than {BitsHeaders.MaxHeaderValueLength} characters."), request));
        }

        if (packetType == default)
        {
            return Result(Fail(BitsErrors.PacketTypeUnknown.Error("BITS-Packet-Type is missing or unknown."), request));
        }

        if (DestinationPath.ContainsBidiControl(request.ContentName))
        {
            // Issue 12, point 12: a name that displays differently from what it is (U+202E "gpj.exe").
            return Result(Fail(BitsErrors.ContentNameBidi.Error("Content-Name contains a bidirectional control character."), request));
        }

        if (request.ContentLength is not { } contentLength)
        {
            return Result(Fail(BitsErrors.ContentLengthMissing.Error("Content-Length is required on every BITS packet."), request));
        }

        if (packetType != BitsPacketType.Fragment && contentLength != 0)
        {
            return Result(Fail(BitsErrors.ContentLengthNotZero.Error($"A {packetType.ToWireName()} packet must have Content-Length 0."), request));
        }

        return packetType switch
        {
            BitsPacketType.Ping => Result(Ping(request)),
            BitsPacketType.CreateSession => CreateSessionAsync(request, cancellationToken),
            BitsPacketType.Fragment => _fragment.HandleAsync(request, contentLength, cancellationToken),
            BitsPacketType.CloseSession => _close.HandleAsync(request, cancellationToken),
            BitsPacketType.CancelSession => CancelSessionAsync(request, cancellationToken),
            _ => Result(Fail(BitsErrors.PacketTypeUnknown.Error("BITS-Packet-Type is unknown."), request)),
        };
    }

    /// <summary>Ping changes nothing, but like IIS it says 501 where uploads are disabled.</summary>
    private BitsResponse Ping(BitsRequest request) =>
        DestinationPath.TryParse(request.RawPath, out var path, out _) && !Areas.Resolve(path).Area.Enabled
            ? BitsResponse.Failure(UploadsDisabled(Areas.Resolve(path).Area))
            : BitsResponse.Ok();

    private static BitsError UploadsDisabled(BitsArea area) =>
        BitsErrors.UploadsDisabled.Error($"BITS uploads are disabled for area '{area.Name}'.");

    private async Task<BitsResponse> CreateSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        if (!DestinationPath.TryParse(request.RawPath, out var path, out var problem))
        {
            return BitsResponse.Failure(BitsErrors.InvalidPath.Error(problem!));
        }

        var destination = Areas.Resolve(path);
        if (!destination.Area.Enabled)
        {
            return BitsResponse.Failure(UploadsDisabled(destination.Area));
        }

        if (!OffersUploadProtocol(request.SupportedProtocols, out problem))
        {
            return BitsResponse.Failure(BitsErrors.ProtocolNotOffered.Error(problem!));
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
            return BitsResponse.Failure(BitsErrors.SessionLimitReached.Error(
                $"User already holds {destination.Area.MaxSessionsPerUser} open sessions; close or cancel one, or retry later."));
        }

        if (!destination.Area.AllowOverwrites && await _store.DestinationExistsAsync(destination.Container, destination.BlobName, cancellationToken))
        {
            return BitsResponse.Failure(BitsErrors.DestinationExists.Error($"'{path}' already exists and overwriting is not allowed."));
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
            PrivateStaging = destination.Area.NotificationType != BitsNotificationType.None,
        };
        await _store.CreateSessionAsync(session, cancellationToken);
        Log.SessionCreated(_logger, session.Id, DestinationPath.ForLog(path)!);
        return BitsResponse.Ok()
            .With(BitsHeaders.Protocol, BitsHeaders.UploadProtocolGuid)
            .WithSession(session.Id)
            .With(BitsHeaders.AcceptEncoding, "identity");
    }

    /// <summary>Close and Cancel end a session: this instance stops using what it remembers of it first.</summary>
    internal void ForgetCachedSession(BitsRequest request)
    {
        if (BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            _sessionCache.Forget(id);
        }
    }

    /// <summary>The cached session the request names, when its URL and user match it as a fresh read would require.</summary>
    internal (BitsSession Session, BitsArea Area)? FindCachedSession(BitsRequest request)
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
    internal BitsResponse? CheckFragmentHeaders(BitsRequest request, long contentLength, out ContentRange range)
    {
        range = default;
        if (!string.IsNullOrEmpty(request.ContentEncoding) && !request.ContentEncoding.Trim().Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return Fail(BitsErrors.ContentEncoding.Error("Content-Encoding other than identity is not supported."), request);
        }

        if (!ContentRange.TryParse(request.ContentRange, out range, out var problem))
        {
            return Fail(BitsErrors.RangeInvalid.Error(problem!), request);
        }

        if (contentLength != range.Length)
        {
            return Fail(BitsErrors.LengthMismatch.Error($"Content-Length {contentLength} does not match Content-Range {range}."), request);
        }

        if (contentLength > _options.MaxFragmentBytes)
        {
            return Fail(BitsErrors.FragmentTooLarge.Error($"Fragment of {contentLength} bytes exceeds the limit of {_options.MaxFragmentBytes} bytes."), request);
        }

        return null;
    }

    /// <summary>
    /// Upload-reply: all bytes are in, so the back-end is told before the final Fragment is acked. A retransmitted final
    /// Fragment after success gets the cached Ack without a second notification; after a failure it notifies again.
    /// </summary>
    internal async Task<BitsResponse> NotifyBackEndAsync(BitsRequest request, BitsSession session, BitsArea area, long received, string? echo, CancellationToken cancellationToken)
    {
        if (_store is not IBitsReplyStore replies || _notifier is null || request.Url is null || request.BackEndUrl is null)
        {
            return Fail(BitsErrors.ReplyUnavailable.Error("Upload-reply is not available on this server."), request);
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
            if (outcome.CopyToDestination)
            {
                // The copy starts when the back-end answers; Close-Session continues it (503 until it is done).
                await _copy.StartAsync(replies, session, cancellationToken);
            }
        }

        return BitsResponse.Ok().WithSession(echo).WithReceived(received).With(BitsHeaders.ReplyUrl, outcome.StaticReplyUrl ?? ReplyUrl(request.Url, session.Id));
    }

    private static BitsError ReplyUrlTooLong() => BitsErrors.ReplyUrlTooLong.Error(
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

    private async Task<BitsResponse> CancelSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        ForgetCachedSession(request);
        var (session, _, failure) = await FindSessionAsync(request, requireEnabled: false, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }

        if (session!.State is BitsSessionState.Open or BitsSessionState.Discarded)
        {
            // Discarded: also a live record another session's commit marked (a tombstone is left as it is).
            await _store.DiscardAsync(session, BitsSessionState.Cancelled, cancellationToken);
            Log.Cancelled(_logger, session.Id);
        }

        return BitsResponse.Ok().WithSession(EchoSessionId(request));
    }

    internal async Task<(BitsSession? Session, BitsArea? Area, BitsResponse? Failure)> FindOpenSessionAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        var (session, area, failure) = await FindSessionAsync(request, requireEnabled: true, cancellationToken);
        if (failure is null && session!.State != BitsSessionState.Open)
        {
            // Rule 6a.4: a Fragment for a closed or cancelled session never changes anything.
            return (null, null, Fail(BitsErrors.SessionClosed.Error("The session is closed."), request));
        }

        return (session, area, failure);
    }

    /// <summary>
    /// The session the request names, with its recorded area (see <see cref="BelongsTo"/>). With
    /// <paramref name="requireEnabled"/> (Fragment, Close-Session; never Cancel-Session) a disabled area answers 501.
    /// </summary>
    internal async Task<(BitsSession? Session, BitsArea? Area, BitsResponse? Failure)> FindSessionAsync(BitsRequest request, bool requireEnabled, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.SessionId))
        {
            return (null, null, Fail(BitsErrors.SessionIdMissing.Error("BITS-Session-Id is required."), request));
        }

        if (!DestinationPath.TryParse(request.RawPath, out var path, out var problem))
        {
            return (null, null, Fail(BitsErrors.InvalidPath.Error(problem!), request));
        }

        if (!BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            return (null, null, Fail(BitsErrors.SessionNotFound.Error("BITS-Session-Id is not a session id."), request));
        }

        var destination = Areas.Resolve(path);
        var session = await _store.GetSessionAsync(id, cancellationToken);

        if (session is null || !BelongsTo(session, destination, OwnerOf(request)))
        {
            return (null, null, Fail(BitsErrors.SessionNotFound.Error(SessionNotFoundMessage), request));
        }

        if (requireEnabled && !destination.Area.Enabled)
        {
            return (null, null, Fail(UploadsDisabled(destination.Area), request));
        }

        return (session, destination.Area, null);
    }

    /// <summary>How long a session has been idle beyond <see cref="StagedIdleLimit"/>; null when it is not.</summary>
    internal TimeSpan? IdleTooLong(BitsSession session)
    {
        var idle = _time.GetUtcNow() - (session.LastActivity ?? session.CreatedAt);
        return session.State == BitsSessionState.Open && idle > StagedIdleLimit ? idle : null;
    }

    /// <summary>A session whose staged blocks may have expired: discarded, and the client starts over (0x8020001F).</summary>
    internal async Task<BitsResponse> DiscardIdleAsync(BitsRequest request, BitsSession session, TimeSpan idle, CancellationToken cancellationToken)
    {
        await _store.DiscardAsync(session, BitsSessionState.Discarded, cancellationToken);
        Log.IdleDiscarded(_logger, session.Id, idle.TotalHours);
        return Fail(BitsErrors.SessionIdle.Error("The session was idle for more than 6 days; its staged data expires after 7. Start the upload again."), request);
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

    internal static BitsResponse Fail(BitsError error, BitsRequest request) =>
        BitsResponse.Failure(error).WithSession(EchoSessionId(request));

    /// <summary>
    /// The client's session id, echoed verbatim when it is a well-formed id spelled in visible ASCII (never arbitrary
    /// text). <see cref="Guid.TryParse(string?, out Guid)"/> also accepts spellings with white space inside (CR, LF,
    /// U+2028 in the <c>{0x..,0x..}</c> form); those get the canonical id instead, so no echo can break a header.
    /// </summary>
    internal static string? EchoSessionId(BitsRequest request)
    {
        if (!BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            return null;
        }

        var verbatim = request.SessionId!.Trim();
        return verbatim.All(c => c is > ' ' and < '\u007F') ? verbatim : id;
    }

    private static Task<BitsResponse> Result(BitsResponse response) => Task.FromResult(response);

    internal static partial class Log
    {
        [LoggerMessage(BitsEventIds.Protocol.SessionCreated, LogLevel.Information, "Created session {SessionId} for {Destination}", EventName = "SessionCreated")]
        public static partial void SessionCreated(ILogger logger, string sessionId, string destination);

        [LoggerMessage(BitsEventIds.Protocol.Published, LogLevel.Information, "Published session {SessionId} to {Destination}: {Bytes} bytes in {ElapsedMs} ms", EventName = "Published")]
        public static partial void Published(ILogger logger, string sessionId, string destination, long bytes, double elapsedMs);

        [LoggerMessage(BitsEventIds.Protocol.Cancelled, LogLevel.Information, "Cancelled session {SessionId}", EventName = "Cancelled")]
        public static partial void Cancelled(ILogger logger, string sessionId);

        [LoggerMessage(BitsEventIds.Protocol.PacketFailed, LogLevel.Warning, "{PacketType} for session {SessionId} failed: {StatusCode} {ErrorCode} {ReasonCode}: {Reason}", EventName = "PacketFailed")]
        public static partial void PacketFailed(ILogger logger, string packetType, string? sessionId, int statusCode, string errorCode, string reasonCode, string reason);

        [LoggerMessage(BitsEventIds.Protocol.StorageUnavailable, LogLevel.Warning, "Storage unavailable while handling {PacketType} for session {SessionId}", EventName = "StorageUnavailable")]
        public static partial void StorageUnavailable(ILogger logger, string packetType, string? sessionId, Exception exception);

        [LoggerMessage(BitsEventIds.Protocol.UnhandledError, LogLevel.Error, "Unhandled error while handling {PacketType} for session {SessionId}", EventName = "UnhandledError")]
        public static partial void UnhandledError(ILogger logger, string packetType, string? sessionId, Exception exception);

        [LoggerMessage(BitsEventIds.Protocol.BodyIncomplete, LogLevel.Warning, "Fragment body for session {SessionId} ended before {ContentLength} bytes; nothing stored", EventName = "BodyIncomplete")]
        public static partial void BodyIncomplete(ILogger logger, string sessionId, long contentLength, Exception exception);

        [LoggerMessage(BitsEventIds.Protocol.OverlapTrimmed, LogLevel.Debug, "Fragment for session {SessionId} at {First} overlaps stored bytes up to {Received}; storing only new bytes", EventName = "OverlapTrimmed")]
        public static partial void OverlapTrimmed(ILogger logger, string sessionId, long first, long received);

        [LoggerMessage(BitsEventIds.Protocol.SessionGone, LogLevel.Warning, "{PacketType} for session {SessionId}: staged data is gone ({Reason})", EventName = "SessionGone")]
        public static partial void SessionGone(ILogger logger, string packetType, string? sessionId, string reason);

        [LoggerMessage(BitsEventIds.Protocol.StagedDataDiscarded, LogLevel.Warning, "Close-Session for session {SessionId}: its staged data for {Destination} was discarded by another session's commit; the client starts again", EventName = "StagedDataDiscarded")]
        public static partial void StagedDataDiscarded(ILogger logger, string sessionId, string destination);

        [LoggerMessage(BitsEventIds.Protocol.IdleDiscarded, LogLevel.Warning, "Session {SessionId} was idle for {IdleHours} hours, longer than staged data is kept: discarded", EventName = "IdleDiscarded")]
        public static partial void IdleDiscarded(ILogger logger, string sessionId, double idleHours);

        [LoggerMessage(BitsEventIds.Protocol.IncompleteDiscarded, LogLevel.Warning, "Close-Session for incomplete session {SessionId} ({Received} of {Total} bytes): discarded", EventName = "IncompleteDiscarded")]
        public static partial void IncompleteDiscarded(ILogger logger, string sessionId, long received, long? total);
    }
}
