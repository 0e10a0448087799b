using Bits.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Bits.AspNetCore;

/// <summary>
/// Turns an <see cref="HttpContext"/> into a <see cref="BitsRequest"/>, runs the protocol handler and writes the Ack.
/// The Kestrel host's endpoint and the Functions trigger both call <see cref="HandleAsync"/>.
/// </summary>
public static class BitsHttp
{
    /// <summary>Header a proxy-friendly client may use to send BITS_POST as POST.</summary>
    public const string MethodOverrideHeader = "X-Http-Method-Override";

    public static async Task HandleAsync(HttpContext context, string routePrefix)
    {
        var handler = context.RequestServices.GetRequiredService<BitsProtocolHandler>();
        if (await BitsAuthentication.AuthenticateAsync(context, routePrefix) is { } refusal)
        {
            await WriteAsync(context, refusal);
            return;
        }

        var request = ToBitsRequest(context, routePrefix);
        BitsResponse response;
        try
        {
            response = await handler.HandleAsync(request, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
            return;
        }

        await WriteAsync(context, response);
    }

    public static BitsRequest ToBitsRequest(HttpContext context, string routePrefix)
    {
        var http = context.Request;
        var method = http.Method;
        if (HttpMethods.IsPost(method) && http.Headers.TryGetValue(MethodOverrideHeader, out var overridden)
            && string.Equals(overridden.ToString(), BitsHeaders.Method, StringComparison.OrdinalIgnoreCase))
        {
            method = BitsHeaders.Method;
        }

        string? oversized = null;
        foreach (var header in http.Headers)
        {
            foreach (var value in header.Value)
            {
                if (value is { Length: > BitsHeaders.MaxHeaderValueLength })
                {
                    oversized ??= header.Key;
                }
            }
        }

        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        var query = http.QueryString.HasValue ? http.QueryString.Value! : string.Empty;
        return new BitsRequest
        {
            Method = method,
            RawPath = RawPathUnder(context, routePrefix),
            Url = AbsoluteUrl(context, target),
            Query = query,
            Range = Header(http, "Range"),
            PacketType = Header(http, BitsHeaders.PacketType),
            SessionId = Header(http, BitsHeaders.SessionId),
            ContentRange = Header(http, BitsHeaders.ContentRange),
            ContentName = Header(http, BitsHeaders.ContentName),
            SupportedProtocols = Header(http, BitsHeaders.SupportedProtocols),
            ContentEncoding = Header(http, BitsHeaders.ContentEncoding),
            ContentLength = http.ContentLength,
            OversizedHeader = oversized,
            User = context.User.Identity is { IsAuthenticated: true, Name: { } name } ? name : null,
            Owner = context.User.Identity is { IsAuthenticated: true } ? context.User.FindFirst(BitsAuthenticator.OwnerClaim)?.Value : null,
            Body = http.Body,
        };
    }

    public static async Task WriteAsync(HttpContext context, BitsResponse response)
    {
        var http = context.Response;
        http.StatusCode = response.StatusCode;
        foreach (var (name, value) in response.Headers)
        {
            http.Headers.Append(name, value);
        }

        http.Headers.Pragma = "no-cache";
        http.ContentLength = response.ContentLength;
        if (response.Body is { } body)
        {
            await using (body)
            {
                await body.CopyToAsync(http.Body, context.RequestAborted);
            }
        }
    }

    /// <summary>The URL as the client sent it; behind a TLS-terminating front end, <c>X-Forwarded-Proto</c> gives the scheme.</summary>
    private static Uri? AbsoluteUrl(HttpContext context, string? rawTarget)
    {
        var request = context.Request;
        var scheme = request.Headers.TryGetValue("X-Forwarded-Proto", out var forwarded) && forwarded.ToString() is "https" or "http"
            ? forwarded.ToString()
            : request.Scheme;
        var pathAndQuery = string.IsNullOrEmpty(rawTarget) || rawTarget[0] != '/'
            ? (request.PathBase + request.Path).ToUriComponent() + request.QueryString.ToUriComponent()
            : rawTarget;
        return Uri.TryCreate($"{scheme}://{request.Host.ToUriComponent()}{pathAndQuery}", UriKind.Absolute, out var url) ? url : null;
    }

    /// <summary>
    /// The request target's path below <paramref name="routePrefix"/>, exactly as the client sent it (still
    /// percent-encoded, so it is decoded once, by <see cref="DestinationPath"/>); the query string is dropped.
    /// </summary>
    public static string RawPathUnder(HttpContext context, string routePrefix)
    {
        var raw = RawTargetPath(context);
        return StartsWithPrefix(raw, routePrefix, out var prefixLength) ? raw[prefixLength..] : raw;
    }

    /// <summary>Whether the raw request target (before any dot-segment normalisation) is under the prefix.</summary>
    public static bool IsUnderPrefix(HttpContext context, string routePrefix) =>
        StartsWithPrefix(RawTargetPath(context), routePrefix, out _);

    private static string RawTargetPath(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw) || raw[0] != '/')
        {
            raw = Uri.TryCreate(raw, UriKind.Absolute, out var absolute)
                ? absolute.AbsolutePath
                : (context.Request.PathBase + context.Request.Path).ToUriComponent();
        }

        var query = raw.IndexOf('?', StringComparison.Ordinal);
        return query >= 0 ? raw[..query] : raw;
    }

    private static bool StartsWithPrefix(string raw, string routePrefix, out int prefixLength)
    {
        var prefix = "/" + routePrefix.Trim('/');
        prefixLength = prefix.Length;
        return prefix.Length > 1 && raw.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
            && (raw.Length == prefix.Length || raw[prefix.Length] == '/');
    }

    private static string? Header(HttpRequest request, string name) =>
        request.Headers.TryGetValue(name, out var values) && values.Count > 0 ? values.ToString() : null;
}
