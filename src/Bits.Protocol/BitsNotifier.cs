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

    private readonly HttpClient _http;
    private readonly ILogger<BitsNotifier> _logger;

    public BitsNotifier(HttpClient http, ILogger<BitsNotifier> logger)
    {
        _http = http;
        _logger = logger;
    }

    /// <summary>
    /// The notification URL for an upload: a relative URL resolves against the upload URL's directory, and the upload
    /// URL's query string is appended (IIS forwards it, e.g. <c>?ACCOUNT=86433</c>).
    /// </summary>
    public static Uri ResolveNotificationUrl(string configured, Uri uploadUrl)
    {
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
                var (requestData, responseData) = await store.CreateReferenceUrlsAsync(session, area.NotificationTimeout + TimeSpan.FromMinutes(10), timeout.Token);
                request.Headers.TryAddWithoutValidation(RequestDataFileNameHeader, requestData.AbsoluteUri);
                request.Headers.TryAddWithoutValidation(ResponseDataFileNameHeader, responseData.AbsoluteUri);
                request.Content = new ByteArrayContent([]);
                request.Content.Headers.ContentLength = 0;
            }

            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (status is < 200 or > 299)
            {
                Log.BackEndRefused(_logger, session.Id, target.GetLeftPart(UriPartial.Path), status);
                return Failed(status, $"The server application answered {status}.");
            }

            string? staticUrl = null;
            if (response.Headers.TryGetValues(StaticResponseUrlHeader, out var values))
            {
                staticUrl = values.FirstOrDefault()?.Trim();
                if (staticUrl is null || staticUrl.Length > MaxReplyUrlLength || !Uri.TryCreate(staticUrl, UriKind.Absolute, out var parsed)
                    || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
                {
                    return new BitsNotificationResult(null, new BitsError(
                        BitsErrorKind.InvalidArgument, 400, BitsHResults.E_INVALIDARG, BitsErrorContext.RemoteApplication,
                        "The server application's BITS-Static-Response-URL is not an absolute http(s) URL of at most 2200 characters."));
                }
            }

            var copy = response.Headers.Contains(CopyFileToDestinationHeader);
            if (staticUrl is null && (area.NotificationType == BitsNotificationType.ByValue || HasBody(response)))
            {
                await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                await store.WriteReplyAsync(session, body, timeout.Token);
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

    /// <summary>Rule 6a.5: the back-end's status where it is 4xx/5xx (else 500), BG_E_HTTP_ERROR_status, context 0x7.</summary>
    private static BitsNotificationResult Failed(int? backEndStatus, string message)
    {
        var status = backEndStatus is >= 400 and <= 599 ? backEndStatus.Value : 500;
        return new BitsNotificationResult(null, new BitsError(
            BitsErrorKind.BackEndFailed, status, BitsHResults.HttpError(backEndStatus ?? 500), BitsErrorContext.RemoteApplication, message));
    }

    private static bool HasBody(HttpResponseMessage response) =>
        response.Content.Headers.ContentLength is > 0 || (response.Content.Headers.ContentLength is null && response.Headers.TransferEncodingChunked == true);

    private static partial class Log
    {
        [LoggerMessage(1101, LogLevel.Information, "Server application at {Url} accepted session {SessionId} (static reply: {StaticReply}, copy to destination: {Copy})", EventName = "BackEndAccepted")]
        public static partial void BackEndAccepted(ILogger logger, string sessionId, string url, bool staticReply, bool copy);

        [LoggerMessage(1102, LogLevel.Warning, "Server application at {Url} refused session {SessionId} with {Status}", EventName = "BackEndRefused")]
        public static partial void BackEndRefused(ILogger logger, string sessionId, string url, int status);

        [LoggerMessage(1103, LogLevel.Warning, "Server application at {Url} did not answer for session {SessionId} within {Seconds} s", EventName = "BackEndTimedOut")]
        public static partial void BackEndTimedOut(ILogger logger, string sessionId, string url, double seconds);

        [LoggerMessage(1104, LogLevel.Warning, "Server application at {Url} unreachable for session {SessionId}", EventName = "BackEndUnreachable")]
        public static partial void BackEndUnreachable(ILogger logger, string sessionId, string url, Exception exception);
    }
}
