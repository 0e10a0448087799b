using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace Bits.Protocol;

/// <summary>What the back-end said, or why it could not be asked.</summary>
public sealed record BitsNotificationResult(BitsNotificationOutcome? Outcome, BitsError? Error);

/// <summary>
/// Notifies the server application of an upload-reply area when the last byte has arrived, as IIS does for
/// BITSServerNotificationType 1 (by reference) and 2 (by value), and keeps its reply.
/// </summary>
public sealed partial class BitsNotifier
{
    public const string OriginalRequestUrlHeader = "BITS-Original-Request-URL";
    public const string RequestDataFileNameHeader = "BITS-Request-DataFile-Name";
    public const string ResponseDataFileNameHeader = "BITS-Response-DataFile-Name";
    public const string StaticResponseUrlHeader = "BITS-Static-Response-URL";
    public const string CopyFileToDestinationHeader = "BITS-Copy-File-To-Destination";

    /// <summary>Longest reply URL the Windows client accepts.</summary>
    public const int MaxReplyUrlLength = 2200;

    /// <summary>The query parameter that carries an Azure Functions key; it never travels on (rule 6a.8).</summary>
    public const string FunctionKeyParameter = "code";

    private readonly HttpClient _http;
    private readonly ILogger<BitsNotifier> _logger;
    private readonly long _maxReplyBytes;

    public BitsNotifier(HttpClient http, ILogger<BitsNotifier> logger, long maxReplyBytes = BitsServerOptions.DefaultMaxReplyBytes)
    {
        _http = http;
        _logger = logger;
        _maxReplyBytes = maxReplyBytes;
    }

    /// <summary>
    /// A handler for back-end calls: redirects are never followed (.NET would turn a POST into a GET on 301/302/303, and
    /// a redirect could send the upload elsewhere); rule 6a.14.
    /// </summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    };

    /// <summary>
    /// <paramref name="url"/> without any <c>code</c> query parameter (an Azure Functions key, rule 6a.8); every other
    /// parameter is kept as sent, in order.
    /// </summary>
    public static Uri WithoutFunctionKey(Uri url)
    {
        if (url.Query.Length <= 1)
        {
            return url;
        }

        var kept = url.Query[1..].Split('&').Where(pair => !IsFunctionKey(pair)).ToArray();
        var builder = new UriBuilder(url) { Query = string.Join('&', kept) };
        return builder.Uri;
    }

    private static bool IsFunctionKey(string pair)
    {
        var equals = pair.IndexOf('=', StringComparison.Ordinal);
        var name = equals < 0 ? pair : pair[..equals];
        return name.Equals(FunctionKeyParameter, StringComparison.OrdinalIgnoreCase)
            || Uri.UnescapeDataString(name.Replace('+', ' ')).Trim().Equals(FunctionKeyParameter, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The notification URL for an upload: a relative URL resolves against the upload URL's directory, and the upload
    /// URL's query string is appended (IIS forwards it, e.g. <c>?ACCOUNT=86433</c>).
    /// </summary>
    public static Uri ResolveNotificationUrl(string configured, Uri uploadUrl)
    {
        uploadUrl = WithoutFunctionKey(uploadUrl);
        var target = new Uri(new Uri(uploadUrl.GetLeftPart(UriPartial.Path)), configured);
        var query = uploadUrl.Query;
        if (query.Length <= 1)
        {
            return target;
        }

        var builder = new UriBuilder(target);
        builder.Query = builder.Query.Length > 1 ? builder.Query[1..] + "&" + query[1..] : query[1..];
        return builder.Uri;
    }

    public async Task<BitsNotificationResult> NotifyAsync(BitsArea area, BitsSession session, Uri uploadUrl, IBitsReplyStore store, CancellationToken cancellationToken)
    {
        uploadUrl = WithoutFunctionKey(uploadUrl);
        var target = ResolveNotificationUrl(area.NotificationUrl!, uploadUrl);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(area.NotificationTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, target);
        request.Headers.TryAddWithoutValidation(OriginalRequestUrlHeader, uploadUrl.AbsoluteUri);
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("BitsFunctions", "1.0"));
        Stream? upload = null;
        try
        {
            if (area.NotificationType == BitsNotificationType.ByValue)
            {
                upload = await store.OpenUploadAsync(session, timeout.Token);
                request.Content = new StreamContent(upload);
                request.Content.Headers.ContentLength = session.TotalLength ?? 0;
            }
            else
            {
                var (requestData, responseData) = await store.CreateReferenceUrlsAsync(session, area.NotificationTimeout, timeout.Token);
                request.Headers.TryAddWithoutValidation(RequestDataFileNameHeader, requestData.AbsoluteUri);
                request.Headers.TryAddWithoutValidation(ResponseDataFileNameHeader, responseData.AbsoluteUri);
                request.Content = new ByteArrayContent([]);
                request.Content.Headers.ContentLength = 0;
            }

            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (status != 200)
            {
                // Only 200 is success (W32 "Handling Server Application Errors"); a 3xx is not followed but relayed.
                Log.BackEndRefused(_logger, session.Id, target.GetLeftPart(UriPartial.Path), status);
                return Failed(status, $"The server application answered {status}.");
            }

            string? staticUrl = null;
            if (response.Headers.TryGetValues(StaticResponseUrlHeader, out var values))
            {
                staticUrl = values.FirstOrDefault()?.Trim();
                if (!IsValidStaticUrl(staticUrl))
                {
                    // Rule 6a.5: a back-end failure the client retries (never relayed into a header it could break).
                    Log.BackEndInvalidStaticUrl(_logger, session.Id, target.GetLeftPart(UriPartial.Path));
                    return Failed(null, "The server application's BITS-Static-Response-URL is not an absolute ASCII http(s) URL of at most 2200 characters.");
                }
            }

            var copy = response.Headers.Contains(CopyFileToDestinationHeader);
            if (staticUrl is null && (area.NotificationType == BitsNotificationType.ByValue || HasBody(response)))
            {
                if (response.Content.Headers.ContentLength > _maxReplyBytes)
                {
                    return ReplyTooLarge(session, target);
                }

                await using var body = new CappedStream(await response.Content.ReadAsStreamAsync(timeout.Token), _maxReplyBytes);
                try
                {
                    await store.WriteReplyAsync(session, body, timeout.Token);
                }
                catch (Exception) when (body.Exceeded)
                {
                    return ReplyTooLarge(session, target);
                }
            }
            else if (staticUrl is null && area.NotificationType == BitsNotificationType.ByReference)
            {
                var written = await store.OpenReplyAsync(session, 0, null, headOnly: true, timeout.Token);
                if (written.TotalLength > _maxReplyBytes)
                {
                    return ReplyTooLarge(session, target);
                }
            }

            Log.BackEndAccepted(_logger, session.Id, target.GetLeftPart(UriPartial.Path), staticUrl is not null, copy);
            return new BitsNotificationResult(new BitsNotificationOutcome(staticUrl, copy), null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.BackEndTimedOut(_logger, session.Id, target.GetLeftPart(UriPartial.Path), area.NotificationTimeout.TotalSeconds);
            return Failed(null, $"The server application did not answer within {area.NotificationTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.");
        }
        catch (HttpRequestException ex)
        {
            Log.BackEndUnreachable(_logger, session.Id, target.GetLeftPart(UriPartial.Path), ex);
            return Failed(null, "The server application could not be reached.");
        }
        finally
        {
            if (upload is not null)
            {
                await upload.DisposeAsync();
            }
        }
    }

    private BitsNotificationResult ReplyTooLarge(BitsSession session, Uri target)
    {
        Log.BackEndReplyTooLarge(_logger, session.Id, target.GetLeftPart(UriPartial.Path), _maxReplyBytes);
        return Failed(null, $"The server application's reply is larger than Bits:MaxReplyBytes ({_maxReplyBytes.ToString(CultureInfo.InvariantCulture)} bytes).");
    }

    /// <summary>An absolute http(s) URL in printable ASCII (it goes into a response header), at most 2,200 characters.</summary>
    internal static bool IsValidStaticUrl(string? url) =>
        url is { Length: > 0 and <= MaxReplyUrlLength }
        && url.All(c => c is > ' ' and < '\u007F')
        && Uri.TryCreate(url, UriKind.Absolute, out var parsed)
        && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps);

    /// <summary>Rule 6a.5: the back-end's status where it is 4xx/5xx (else 500), BG_E_HTTP_ERROR_status, context 0x7.</summary>
    private static BitsNotificationResult Failed(int? backEndStatus, string message)
    {
        var status = backEndStatus is >= 400 and <= 599 ? backEndStatus.Value : 500;
        return new BitsNotificationResult(null, BitsErrors.BackEndFailed.Error(status, BitsHResults.HttpError(backEndStatus ?? 500), message));
    }

    private static bool HasBody(HttpResponseMessage response) =>
        response.Content.Headers.ContentLength is > 0 || (response.Content.Headers.ContentLength is null && response.Headers.TransferEncodingChunked == true);

    /// <summary>Reads at most <c>limit</c> bytes; one more byte fails the read and sets <see cref="Exceeded"/>.</summary>
    private sealed class CappedStream(Stream inner, long limit) : Stream
    {
        private long _read;

        public bool Exceeded { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _read;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Count(int read)
        {
            _read += read;
            if (_read > limit)
            {
                Exceeded = true;
                throw new IOException("The server application's reply exceeds Bits:MaxReplyBytes.");
            }

            return read;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Protocol.BackEndInvalidStaticUrl, LogLevel.Warning, "Server application at {Url} gave session {SessionId} an invalid BITS-Static-Response-URL", EventName = "BackEndInvalidStaticUrl")]
        public static partial void BackEndInvalidStaticUrl(ILogger logger, string sessionId, string url);

        [LoggerMessage(BitsEventIds.Protocol.BackEndReplyTooLarge, LogLevel.Warning, "Server application at {Url} gave session {SessionId} a reply larger than {MaxReplyBytes} bytes", EventName = "BackEndReplyTooLarge")]
        public static partial void BackEndReplyTooLarge(ILogger logger, string sessionId, string url, long maxReplyBytes);

        [LoggerMessage(BitsEventIds.Protocol.BackEndAccepted, LogLevel.Information, "Server application at {Url} accepted session {SessionId} (static reply: {StaticReply}, copy to destination: {Copy})", EventName = "BackEndAccepted")]
        public static partial void BackEndAccepted(ILogger logger, string sessionId, string url, bool staticReply, bool copy);

        [LoggerMessage(BitsEventIds.Protocol.BackEndRefused, LogLevel.Warning, "Server application at {Url} refused session {SessionId} with {Status}", EventName = "BackEndRefused")]
        public static partial void BackEndRefused(ILogger logger, string sessionId, string url, int status);

        [LoggerMessage(BitsEventIds.Protocol.BackEndTimedOut, LogLevel.Warning, "Server application at {Url} did not answer for session {SessionId} within {Seconds} s", EventName = "BackEndTimedOut")]
        public static partial void BackEndTimedOut(ILogger logger, string sessionId, string url, double seconds);

        [LoggerMessage(BitsEventIds.Protocol.BackEndUnreachable, LogLevel.Warning, "Server application at {Url} unreachable for session {SessionId}", EventName = "BackEndUnreachable")]
        public static partial void BackEndUnreachable(ILogger logger, string sessionId, string url, Exception exception);
    }
}
