using System.Globalization;

namespace Bits.Protocol;

/// <summary>
/// GET or HEAD of a session's reply URL (the upload URL plus <c>bits-reply=&lt;id&gt;</c>): 200 or 206 for one byte
/// range, with Content-Length and Last-Modified; 404 for anything that is not an open session of this URL and owner
/// with a reply of its own.
/// </summary>
internal sealed class BitsReplyDownload(BitsProtocolHandler handler)
{
    /// <summary>The reply id in the query (<c>bits-reply=</c>) of a GET or HEAD; null for any other request.</summary>
    public static string? ReplyId(BitsRequest request)
    {
        if (request.Method is not ("GET" or "HEAD"))
        {
            return null;
        }

        foreach (var pair in request.Query.TrimStart('?').Split('&'))
        {
            if (pair.StartsWith(BitsHeaders.ReplyQueryParameter + "=", StringComparison.Ordinal))
            {
                return pair[(BitsHeaders.ReplyQueryParameter.Length + 1)..];
            }
        }

        return null;
    }

    public async Task<BitsResponse> HandleAsync(BitsParsedRequest parsed, string replyId, CancellationToken cancellationToken)
    {
        var request = parsed.Request;
        var notFound = BitsResponse.Download(404, null, 0);
        if (handler.Store is not IBitsReplyStore replies || !BitsSessionIds.TryNormalize(replyId, out var id)
            || parsed.Destination is not { } destination)
        {
            return notFound;
        }

        var session = await handler.Sessions.FindAsync(id, destination, parsed.Owner, cancellationToken);
        if (session is null || session.State != BitsSessionState.Open || session.Notification is not { StaticReplyUrl: null })
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
}
