using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace Bits.Client;

public sealed partial class BitsUploadClient
{
    private const int ReplyCopyBufferBytes = 81920;
    private const string ReplyPacket = "Reply download";
    private const uint MissingFileSize = 0x80200011; // BG_E_MISSING_FILE_SIZE

    /// <summary>
    /// Downloads an upload-reply from <paramref name="replyUrl"/> (the final Ack's <c>BITS-Reply-URL</c>) into
    /// <paramref name="destination"/>, as the Windows client fetches it: <c>GET</c> with <c>Accept-Encoding: identity</c>
    /// and the <see cref="BitsClientOptions.CustomHeaders"/>. The answer must carry <c>Content-Length</c>. When the body
    /// breaks off, the download continues with <c>Range: bytes=N-</c> from the bytes already written (a 206 whose
    /// <c>Content-Range</c> starts there); a server that answers 200 again, or whose reply changed (length or
    /// <c>Last-Modified</c>), is read again from the start, which needs a seekable destination. Transient failures are
    /// retried like upload packets (<see cref="BitsClientOptions.MaxTransientRetries"/> in a row, with
    /// <see cref="BitsClientOptions.RetryDelay"/>); bytes arriving reset that count. Call it before Close-Session
    /// (<see cref="BitsClientOptions.BeforeClose"/>): closing the session deletes the reply. Returns the reply's length.
    /// </summary>
    /// <exception cref="BitsUploadException">The server refused (e.g. 404 once the session is closed), answered without
    /// <c>Content-Length</c> (BG_E_MISSING_FILE_SIZE), or transient failures went on too long (<see cref="BitsUploadException.RetriesExhausted"/>).</exception>
    public async Task<long> DownloadReplyAsync(Uri replyUrl, Stream destination, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(replyUrl);
        ArgumentNullException.ThrowIfNull(destination);
        if (!destination.CanWrite)
        {
            throw new ArgumentException("The destination must be writable.", nameof(destination));
        }

        ValidateOptions(_options);
        var start = destination.CanSeek ? destination.Position : 0;
        long written = 0;
        long? total = null;
        DateTimeOffset? lastModified = null;
        var failures = 0;
        var buffer = new byte[ReplyCopyBufferBytes];
        var localFailure = false; // errors of the destination itself (e.g. a full disk) are not retried
        while (true)
        {
            BitsAck? refusal = null;
            Exception? error = null;
            try
            {
                using var request = CreateReplyRequest(replyUrl, written);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                var status = (int)response.StatusCode;
                var headers = response.Content.Headers;
                if (status is 200 or 206)
                {
                    long length;
                    if (status == 200)
                    {
                        if (headers.ContentLength is not { } contentLength)
                        {
                            throw new BitsUploadException(
                                $"The reply download from {replyUrl} answered 200 without Content-Length. {BitsErrorCodes.Describe(MissingFileSize)}",
                                status,
                                MissingFileSize,
                                null)
                            { PacketType = ReplyPacket };
                        }

                        // The whole reply: the first answer, or a server that ignored the range (read it again).
                        localFailure = true;
                        written = Rewind(destination, start, written);
                        localFailure = false;
                        length = contentLength;
                        total = contentLength;
                    }
                    else
                    {
                        if (headers.ContentRange is not { HasRange: true, From: { } from, To: { } to, HasLength: true, Length: { } whole } || to < from || to >= whole)
                        {
                            throw ReplyInvalid(replyUrl, "a 206 answer without a valid Content-Range", response);
                        }

                        var changed = (total is { } known && whole != known)
                            || (lastModified is { } seen && headers.LastModified is { } now && now != seen);
                        if (from != written || changed)
                        {
                            // Not the continuation of what we have (the reply changed, or the range is elsewhere):
                            // discard what was written and ask for the whole reply again.
                            var message = string.Create(CultureInfo.InvariantCulture, $"The server answered bytes {from}-{to}/{whole} where bytes from {written} of {total} were expected; downloading the reply again.");
                            localFailure = true;
                            written = Rewind(destination, start, written);
                            localFailure = false;
                            total = null;
                            lastModified = null;
                            throw new IOException(message);
                        }

                        length = to - from + 1;
                        total = whole;
                    }

                    lastModified = headers.LastModified ?? lastModified;
                    await using (var body = await response.Content.ReadAsStreamAsync(ct))
                    {
                        var end = written + length;
                        while (written < end)
                        {
                            var read = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, end - written)), ct);
                            if (read == 0)
                            {
                                break;
                            }

                            localFailure = true;
                            await destination.WriteAsync(buffer.AsMemory(0, read), ct);
                            localFailure = false;
                            written += read;
                            failures = 0;
                        }
                    }

                    if (written == total)
                    {
                        localFailure = true;
                        await destination.FlushAsync(ct);
                        return written;
                    }

                    throw new IOException(string.Create(CultureInfo.InvariantCulture, $"The reply body ended after {written} of {total} bytes."));
                }

                if (status == 416 && written > 0)
                {
                    // The reply shrank below what we have: read it again from the start.
                    localFailure = true;
                    written = Rewind(destination, start, written);
                    localFailure = false;
                    total = null;
                    lastModified = null;
                    throw new IOException("The server answered 416 to the resumed range; downloading the reply again.");
                }

                refusal = BitsAck.FromResponse(response);
                if (!IsTransient(refusal))
                {
                    var hint = status == 404 ? " (the session may be closed, cancelled or expired: replies live until Close-Session)" : string.Empty;
                    throw new BitsUploadException(
                        $"The reply download from {replyUrl} was refused: the server answered {refusal}{hint}. {BitsErrorCodes.Describe(refusal.EffectiveErrorCode)}",
                        status,
                        refusal.EffectiveErrorCode,
                        refusal.ErrorContext)
                    { PacketType = ReplyPacket, Ack = refusal };
                }
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && !localFailure && IsTransient(ex))
            {
                error = ex;
            }

            failures++;
            var reason = refusal?.ToString() ?? $"{error!.GetType().Name}: {error.Message}";
            if (failures > _options.MaxTransientRetries)
            {
                var message = $"The reply download from {replyUrl} failed {failures} times in a row with transient errors; the last was {reason}.";
                throw refusal is not null
                    ? new BitsUploadException(message + " " + BitsErrorCodes.Describe(refusal.EffectiveErrorCode), refusal.StatusCode, refusal.EffectiveErrorCode, refusal.ErrorContext, error)
                    { PacketType = ReplyPacket, Ack = refusal, RetriesExhausted = true }
                    : new BitsUploadException(message, null, null, null, error) { PacketType = ReplyPacket, RetriesExhausted = true };
            }

            var delay = RetryDelayFor(_options.RetryDelay, failures);
            Log.Retry(_logger, ReplyPacket, failures, reason, delay);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, ct);
            }
        }
    }

    private static long Rewind(Stream destination, long start, long written)
    {
        if (written == 0)
        {
            return 0;
        }

        if (!destination.CanSeek)
        {
            throw new BitsUploadException("The reply download has to start over (the reply changed, or the server ignored the byte range), but the destination cannot be rewound.")
            { PacketType = ReplyPacket };
        }

        destination.Seek(start, SeekOrigin.Begin);
        destination.SetLength(start);
        return 0;
    }

    private static BitsUploadException ReplyInvalid(Uri replyUrl, string what, HttpResponseMessage response)
    {
        var ack = BitsAck.FromResponse(response);
        return new BitsUploadException(
            $"Invalid answer to the reply download from {replyUrl}: {what} ({ack}). {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE)}",
            ack.StatusCode,
            BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE,
            null)
        { PacketType = ReplyPacket, Ack = ack };
    }

    private HttpRequestMessage CreateReplyRequest(Uri replyUrl, long from)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, replyUrl)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        var headers = request.Headers;
        headers.TryAddWithoutValidation("Accept", "*/*");
        headers.TryAddWithoutValidation("Accept-Encoding", "identity");
        if (!_options.CustomHeaders.Keys.Any(k => string.Equals(k, "User-Agent", StringComparison.OrdinalIgnoreCase)))
        {
            headers.TryAddWithoutValidation("User-Agent", BitsWire.UserAgent);
        }

        foreach (var (name, value) in _options.CustomHeaders)
        {
            if (headers.NonValidated.Contains(name))
            {
                headers.Remove(name);
            }

            headers.TryAddWithoutValidation(name, value); // content headers (e.g. Content-Type) do not apply to a GET
        }

        if (from > 0)
        {
            headers.Range = new RangeHeaderValue(from, null);
        }

        return request;
    }
}
