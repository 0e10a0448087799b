using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>
/// The host-agnostic BITS upload server: parses a <see cref="BitsRequest"/> once (<see cref="BitsParsedRequest"/>),
/// checks what every packet shares, and dispatches it to its packet class, which turns it into an Ack. Sessions are
/// found one way (<see cref="BitsSessionResolver"/>). All session state lives in the store; the process keeps only the
/// immutable facts of open sessions for a short time (<see cref="BitsSessionCache"/>), never deciding a session's state
/// from them.
/// </summary>
public sealed partial class BitsProtocolHandler
{
    private readonly ILogger<BitsProtocolHandler> _logger;
    private readonly BitsReplyDownload _replyDownload;
    private readonly BitsCreateSessionPacket _create;
    private readonly BitsFragmentPacket _fragment;
    private readonly BitsCloseSessionPacket _close;
    private readonly BitsCancelSessionPacket _cancel;

    public BitsProtocolHandler(
        IBitsUploadStore store,
        IOptions<BitsServerOptions> options,
        TimeProvider time,
        ILogger<BitsProtocolHandler> logger,
        BitsNotifier? notifier = null,
        IBitsCompletionSink? completions = null,
        BitsMetrics? metrics = null)
    {
        Store = store;
        Metrics = metrics ?? BitsMetrics.Unshared();
        Options = options.Value;
        Time = time;
        _logger = logger;
        Events = new BitsCompletionEvents(store, completions, time, logger);
        Areas = new BitsAreaCatalog(Options);
        FragmentMemory = new BitsFragmentMemory(
            Math.Max(BitsFragmentMemory.MinimumBufferBytes, Options.FragmentMemoryBytes),
            BitsFragmentBody.MaxHeldBytes(Options.MaxFragmentBytes));
        Sessions = new BitsSessionResolver(store, new BitsSessionCache(Options.SessionCacheLifetime, time), time, logger);
        DestinationCopy = new BitsDestinationCopy(this, Options.CopyTimeBudget);
        ReplyNotification = new BitsReplyNotification(this, notifier);
        _replyDownload = new BitsReplyDownload(this);
        _create = new BitsCreateSessionPacket(this);
        _fragment = new BitsFragmentPacket(this);
        _close = new BitsCloseSessionPacket(this);
        _cancel = new BitsCancelSessionPacket(this);
    }

    internal IBitsUploadStore Store { get; }

    internal BitsServerOptions Options { get; }

    /// <summary>The server's instruments (from the host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>; unshared ones when built without).</summary>
    public BitsMetrics Metrics { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger => _logger;

    /// <summary>How every packet finds its session: the cache where allowed, else the store.</summary>
    internal BitsSessionResolver Sessions { get; }

    /// <summary>The <c>BITS-Copy-File-To-Destination</c> copy, in slices of at most <see cref="BitsServerOptions.CopyTimeBudget"/>.</summary>
    internal BitsDestinationCopy DestinationCopy { get; }

    /// <summary>Upload-reply: the back-end's notification on the final Fragment.</summary>
    internal BitsReplyNotification ReplyNotification { get; }

    /// <summary>Completion events, at least once where the store supports it.</summary>
    internal BitsCompletionEvents Events { get; }

    /// <summary>The fragment buffer memory of this handler (for tests).</summary>
    internal BitsFragmentMemory FragmentMemory { get; }

    /// <summary>The upload areas this handler serves.</summary>
    public BitsAreaCatalog Areas { get; }

    /// <summary>Handles one request. Never throws for bad input or storage faults; only cancellation escapes.</summary>
    public async Task<BitsResponse> HandleAsync(BitsRequest request, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        var parsed = new BitsParsedRequest(request, Areas);
        var packetType = parsed.PacketType;
        using var activity = BitsObservability.ActivitySource.StartActivity("BITS " + packetType.ToWireName(), ActivityKind.Internal);
        activity?.SetTag("bits.packet_type", packetType.ToWireName());
        activity?.SetTag("bits.session_id", request.SessionId);

        BitsResponse response;
        try
        {
            response = await DispatchAsync(parsed, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (BitsSessionGoneException ex)
        {
            Log.SessionGone(_logger, packetType.ToWireName(), request.SessionId, ex.Message);
            response = parsed.Fail(BitsErrors.StagedDataGone.Error(BitsSessionResolver.SessionNotFoundMessage));
        }
        catch (BitsStoreUnavailableException ex)
        {
            Log.StorageUnavailable(_logger, packetType.ToWireName(), request.SessionId, ex);
            response = parsed.Fail(ex.Reason.Error("Storage is temporarily unavailable; retry."));
        }
        catch (Exception ex)
        {
            Log.UnhandledError(_logger, packetType.ToWireName(), request.SessionId, ex);
            response = parsed.Fail(BitsErrors.InternalError.Error("The server failed to process the packet."));
        }

        if (response.Error is { } error)
        {
            Log.PacketFailed(_logger, packetType.ToWireName(), DestinationPath.ForLog(request.SessionId), response.StatusCode, BitsHResults.Format(error.HResult), error.Code, DestinationPath.ForLog(error.Message)!);
            activity?.SetTag("bits.error_code", BitsHResults.Format(error.HResult));
            activity?.SetTag("bits.error_reason", error.Code);
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
        }

        Metrics.RecordPacket(packetType, response, Time.GetElapsedTime(started));
        return response;
    }

    /// <summary>The checks every packet shares, then the packet's own class.</summary>
    private Task<BitsResponse> DispatchAsync(BitsParsedRequest parsed, CancellationToken cancellationToken)
    {
        var request = parsed.Request;
        if (BitsReplyDownload.ReplyId(request) is { } replyId)
        {
            return _replyDownload.HandleAsync(parsed, replyId, cancellationToken);
        }

        if (!string.Equals(request.Method, BitsHeaders.Method, StringComparison.OrdinalIgnoreCase))
        {
            return Result(BitsResponse.Failure(BitsErrors.MethodNotAllowed.Error($"Method {request.Method} is not allowed on an upload URL; use BITS_POST.")));
        }

        if (request.OversizedHeader is { } header)
        {
            return Result(parsed.Fail(BitsErrors.HeaderTooLong.Error($"Header {header} is longer than {BitsHeaders.MaxHeaderValueLength} characters.")));
        }

        var packetType = parsed.PacketType;
        if (packetType == default)
        {
            return Result(parsed.Fail(BitsErrors.PacketTypeUnknown.Error("BITS-Packet-Type is missing or unknown.")));
        }

        if (DestinationPath.ContainsBidiControl(request.ContentName))
        {
            // Issue 12, point 12: a name that displays differently from what it is (U+202E "gpj.exe").
            return Result(parsed.Fail(BitsErrors.ContentNameBidi.Error("Content-Name contains a bidirectional control character.")));
        }

        if (request.ContentLength is not { } contentLength)
        {
            return Result(parsed.Fail(BitsErrors.ContentLengthMissing.Error("Content-Length is required on every BITS packet.")));
        }

        if (packetType != BitsPacketType.Fragment && contentLength != 0)
        {
            return Result(parsed.Fail(BitsErrors.ContentLengthNotZero.Error($"A {packetType.ToWireName()} packet must have Content-Length 0.")));
        }

        return packetType switch
        {
            BitsPacketType.Ping => Result(BitsPingPacket.Handle(parsed)),
            BitsPacketType.CreateSession => _create.HandleAsync(parsed, cancellationToken),
            BitsPacketType.Fragment => _fragment.HandleAsync(parsed, contentLength, cancellationToken),
            BitsPacketType.CloseSession => _close.HandleAsync(parsed, cancellationToken),
            BitsPacketType.CancelSession => _cancel.HandleAsync(parsed, cancellationToken),
            _ => Result(parsed.Fail(BitsErrors.PacketTypeUnknown.Error("BITS-Packet-Type is unknown."))),
        };
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
