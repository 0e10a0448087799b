using Bits.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

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

        if (!IsUnderPrefix(context, routePrefix))
        {
            // Issue 12, point 11: a target that reaches the route only after decoding or normalisation (/%75ploads/x)
            // names no file under the route as sent.
            await WriteAsync(context, BitsResponse.Failure(BitsErrors.OutsideRoute.Error("The request target is not under the upload route as sent.")));
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

        var query = http.QueryString.HasValue ? http.QueryString.Value! : string.Empty;
        var pathAndQuery = RawTargetPath(context) + query;
        IServiceProvider? services = context.RequestServices;
        var publicBase = services?.GetService<IOptions<BitsServerOptions>>()?.Value.PublicBaseUrl;
        var underBase = publicBase is not null ? UnderBase(publicBase, pathAndQuery) : null;
        return new BitsRequest
        {
            Method = method,
            RawPath = RawPathUnder(context, routePrefix),
            Url = publicBase is not null ? underBase : AbsoluteUrl(context, pathAndQuery),
            BackEndUrl = publicBase is not null ? underBase : LocalUrl(context, pathAndQuery),
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

    /// <summary>
    /// The URL as the client sent it. Behind a TLS-terminating front end the scheme comes from <c>X-Forwarded-Proto</c>
    /// only when a configured proxy sent it (<c>Bits:ForwardedHeaders</c>, already applied to the request's scheme by
    /// <see cref="BitsClientAddress"/>); from anyone else the header is ignored.
    /// </summary>
    private static Uri? AbsoluteUrl(HttpContext context, string pathAndQuery)
    {
        var request = context.Request;
        return Uri.TryCreate($"{request.Scheme}://{request.Host.ToUriComponent()}{pathAndQuery}", UriKind.Absolute, out var url) ? url : null;
    }

    /// <summary>The raw path and query appended to <c>Bits:PublicBaseUrl</c> (whose own path, if any, comes first).</summary>
    private static Uri? UnderBase(Uri publicBase, string pathAndQuery) =>
        Uri.TryCreate(publicBase.GetLeftPart(UriPartial.Path).TrimEnd('/') + pathAndQuery, UriKind.Absolute, out var url) ? url : null;

    /// <summary>Without <c>Bits:PublicBaseUrl</c>: the address and port the connection arrived on, never a request header.</summary>
    private static Uri? LocalUrl(HttpContext context, string pathAndQuery)
    {
        var connection = context.Connection;
        if (connection.LocalIpAddress is not { } address)
        {
            return null;
        }

        var host = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "[" + address.ToString().Split('%')[0] + "]" : address.ToString();
        return Uri.TryCreate(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{context.Request.Scheme}://{host}:{connection.LocalPort}{pathAndQuery}"),
            UriKind.Absolute,
            out var url) ? url : null;
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

    /// <summary>
    /// The path of the request target exactly as sent. An absolute-form target (<c>http://h/uploads/x</c>) is cut
    /// textually after its authority, never through <see cref="Uri"/>, which would remove dot segments such as
    /// <c>%2e%2e</c> before the name check sees them (issue 12, point 11).
    /// </summary>
    private static string RawTargetPath(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            raw = (context.Request.PathBase + context.Request.Path).ToUriComponent();
        }
        else if (raw[0] != '/')
        {
            var authority = raw.IndexOf("://", StringComparison.Ordinal);
            var path = authority < 0 ? -1 : raw.IndexOfAny(['/', '?', '#'], authority + 3);
            raw = path < 0 ? string.Empty : raw[path] == '/' ? raw[path..] : "/" + raw[path..];
        }

        var end = raw.IndexOfAny(['?', '#']);
        return end >= 0 ? raw[..end] : raw;
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
