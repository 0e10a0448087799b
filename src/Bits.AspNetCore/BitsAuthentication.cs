using System.Security.Claims;
using System.Text;
using Bits.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>Per-area authentication of BITS requests (HTTP Basic, Entra ID bearer tokens).</summary>
public static class BitsAuthentication
{
    internal static IServiceCollection AddBitsAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BitsAuthServerOptions>().Bind(configuration.GetSection(BitsAuthServerOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BitsAuthServerOptions>, BitsAuthServerOptionsValidator>();
        services.TryAddSingleton<BitsBasicCredentialVerifier>();
        services.TryAddSingleton<IBitsBearerKeyProvider, OpenIdConnectBitsBearerKeyProvider>();
        services.TryAddSingleton<BitsBearerTokenValidator>();
        services.TryAddSingleton<BitsAuthenticator>();
        services.AddOptions<BitsForwardedHeadersOptions>().Bind(configuration.GetSection(BitsForwardedHeadersOptions.SectionName)).ValidateOnStart();
        services.AddOptions<BitsRateLimitOptions>().Bind(configuration.GetSection(BitsRateLimitOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BitsForwardedHeadersOptions>, BitsClientProtectionValidator>();
        services.AddSingleton<IValidateOptions<BitsRateLimitOptions>, BitsClientProtectionValidator>();
        services.AddSingleton(new BitsSettingsSection(BitsAuthServerOptions.SectionName, typeof(BitsAuthServerOptions)));
        services.AddSingleton(new BitsSettingsSection(BitsForwardedHeadersOptions.SectionName, typeof(BitsForwardedHeadersOptions)));
        services.AddSingleton(new BitsSettingsSection(BitsRateLimitOptions.SectionName, typeof(BitsRateLimitOptions)));
        services.TryAddSingleton<BitsClientAddress>();
        services.TryAddSingleton<BitsRateLimits>();
        return services;
    }

    /// <summary>
    /// Authenticates the request for its area and sets <see cref="HttpContext.User"/>. Returns the Ack to send instead of
    /// handling the packet (401 with a challenge, 403), or null to go on.
    /// </summary>
    internal static Task<BitsResponse?> AuthenticateAsync(HttpContext context, string routePrefix) =>
        context.RequestServices.GetRequiredService<BitsAuthenticator>().AuthenticateAsync(context, routePrefix);
}

/// <summary>
/// Applies an area's <see cref="BitsAuthenticationOptions"/> to one request. Every packet (Ping included, as IIS does)
/// and every method is treated the same, before the protocol handler sees the request.
/// </summary>
internal sealed partial class BitsAuthenticator(
    BitsProtocolHandler handler,
    IOptionsMonitor<BitsAuthServerOptions> options,
    BitsBasicCredentialVerifier basic,
    BitsBearerTokenValidator bearer,
    BitsClientAddress clientAddress,
    BitsRateLimits limits,
    ILogger<BitsAuthenticator> logger)
{
    internal const string BasicScheme = "Basic";
    internal const string BearerScheme = "Bearer";

    /// <summary>The claim carrying the request's owner key (<see cref="BitsRequest.Owner"/>).</summary>
    internal const string OwnerClaim = "bits_owner";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public async Task<BitsResponse?> AuthenticateAsync(HttpContext context, string routePrefix)
    {
        // Only this component decides who the user is: start from anonymous whatever ran before.
        context.User = new ClaimsPrincipal(new ClaimsIdentity());
        var address = clientAddress.Apply(context);
        if (!DestinationPath.TryParse(BitsHttp.RawPathUnder(context, routePrefix), out var path, out _))
        {
            return null; // The handler answers 400 for the name; nothing is stored or revealed.
        }

        var area = handler.Areas.Resolve(path).Area;
        var rule = area.Authentication;
        var secure = IsHttps(context.Request);
        var basicOffered = rule.Basic && (secure || options.CurrentValue.AllowBasicOverHttp);
        var authorization = context.Request.Headers.Authorization;

        if (authorization.Count == 0 || (!rule.Basic && !rule.Bearer && rule.AllowAnonymous))
        {
            // An anonymous area that accepts no scheme ignores credentials, as IIS with only anonymous access does.
            return !rule.AllowAnonymous ? Challenge(area, rule, basicOffered, bearerError: false, "no credentials") : AnonymousLimit(context, area, address);
        }

        if (authorization.Count > 1 || !TrySplit(authorization.ToString(), out var scheme, out var parameter))
        {
            return Challenge(area, rule, basicOffered, bearerError: false, "malformed Authorization header");
        }

        string user;
        ClaimsIdentity identity;
        if (string.Equals(scheme, BasicScheme, StringComparison.OrdinalIgnoreCase) && rule.Basic)
        {
            if (!basicOffered)
            {
                return Refuse(area, BasicScheme, "Basic credentials were sent over plain HTTP; use HTTPS.");
            }

            var decoded = TryDecodeBasic(parameter, out var name, out var password);
            if (limits.BasicThrottled(name, address, out var retryAfter))
            {
                // Checked before the password, so a guesser learns nothing more while throttled.
                Log.Throttled(logger, area.Name, "failed Basic attempts");
                return Count(BitsRateLimits.Throttled(retryAfter, BitsErrors.SignInThrottled.Error("Too many failed sign-in attempts from this address; retry later.")), area, BasicScheme);
            }

            if (!decoded || !basic.TryVerify(name, password, out var verified))
            {
                limits.BasicFailed(name, address);
                return Challenge(area, rule, basicOffered, bearerError: false, "Basic credentials were not accepted");
            }

            user = verified;
            identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user), new Claim(OwnerClaim, "basic:" + user)], BasicScheme, ClaimTypes.Name, ClaimTypes.Role);
        }
        else if (string.Equals(scheme, BearerScheme, StringComparison.OrdinalIgnoreCase) && rule.Bearer)
        {
            var result = await bearer.ValidateAsync(parameter, context.RequestAborted);
            if (result.KeysUnavailable)
            {
                Log.KeysUnavailable(logger, area.Name, result.Failure ?? "unknown");
                return Count(BitsResponse.Failure(BitsErrors.SigningKeysUnavailable.Error("Token signing keys are unavailable; retry.")), area, BearerScheme);
            }

            if (!result.IsValid)
            {
                return Challenge(area, rule, basicOffered, bearerError: true, "bearer token was not accepted: " + result.Failure);
            }

            user = result.UserName!;
            identity = result.Identity!;
            identity.AddClaim(new Claim(OwnerClaim, BearerOwner(identity)));
        }
        else
        {
            return Challenge(area, rule, basicOffered, bearerError: false, "an authentication scheme this area does not accept");
        }

        if (rule.AllowedUsers.Count > 0 && !rule.AllowedUsers.Any(entry => IsAllowed(entry, identity.AuthenticationType!, user, identity)))
        {
            Log.UserNotAllowed(logger, area.Name, user);
            return Count(BitsResponse.Failure(BitsErrors.AreaForbidden.Error("The authenticated user may not upload to this area.")), area, identity.AuthenticationType!);
        }

        Log.Authenticated(logger, area.Name, identity.AuthenticationType!, user);
        context.User = new ClaimsPrincipal(identity);
        return null;
    }

    /// <summary>Anonymous Create-Session packets count against the client address's limit (issue 12, point 6).</summary>
    private BitsResponse? AnonymousLimit(HttpContext context, BitsArea area, string address)
    {
        if (!string.Equals(context.Request.Headers[BitsHeaders.PacketType].ToString().Trim(), "Create-Session", StringComparison.OrdinalIgnoreCase)
            || limits.TryOpenAnonymousSession(address, out var retryAfter))
        {
            return null;
        }

        Log.Throttled(logger, area.Name, "anonymous sessions");
        return Count(BitsRateLimits.Throttled(retryAfter, BitsErrors.AnonymousThrottled.Error("Too many new sessions from this address; retry later.")), area, "anonymous");
    }

    /// <summary>
    /// The owner of a bearer token's sessions: its tenant and object id (immutable, unlike <c>preferred_username</c>);
    /// without them its issuer and subject. Always in the bearer name space, apart from Basic users of the same name.
    /// </summary>
    internal static string BearerOwner(ClaimsIdentity identity) =>
        identity.FindFirst("tid")?.Value is { Length: > 0 } tid && identity.FindFirst("oid")?.Value is { Length: > 0 } oid
            ? "bearer:" + tid + "/" + oid
            : "bearer:" + identity.FindFirst("iss")?.Value + "|" + identity.FindFirst("sub")?.Value + "|" + identity.FindFirst("oid")?.Value;

    /// <summary>
    /// One <c>AllowedUsers</c> entry: <c>basic:&lt;name&gt;</c> is that Basic user only; <c>oid:&lt;object id&gt;</c> is the
    /// bearer tokens with that <c>oid</c> only; any other entry is a user name, matched (case-insensitively) against the
    /// Basic user name or the bearer token's user name (<c>preferred_username</c>, <c>upn</c>, <c>oid</c>, <c>sub</c>).
    /// </summary>
    internal static bool IsAllowed(string entry, string scheme, string user, ClaimsIdentity identity)
    {
        if (entry.StartsWith("basic:", StringComparison.OrdinalIgnoreCase))
        {
            return scheme == BasicScheme && string.Equals(entry[6..], user, StringComparison.OrdinalIgnoreCase);
        }

        if (entry.StartsWith("oid:", StringComparison.OrdinalIgnoreCase))
        {
            return scheme == BearerScheme && string.Equals(entry[4..], identity.FindFirst("oid")?.Value, StringComparison.OrdinalIgnoreCase);
        }

        return string.Equals(entry, user, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// HTTPS as the client saw it: Kestrel's own TLS, or <c>X-Forwarded-Proto</c> from a configured proxy
    /// (<c>Bits:ForwardedHeaders</c>, applied to the request's scheme by <see cref="BitsClientAddress"/>); from anyone
    /// else the header is ignored.
    /// </summary>
    private static bool IsHttps(HttpRequest request) => request.IsHttps;

    private static bool TrySplit(string header, out string scheme, out string parameter)
    {
        header = header.Trim();
        var space = header.IndexOf(' ', StringComparison.Ordinal);
        scheme = space > 0 ? header[..space] : header;
        parameter = space > 0 ? header[(space + 1)..].Trim() : string.Empty;
        return scheme.Length > 0 && parameter.Length > 0;
    }

    /// <summary>RFC 7617: base64 of <c>user:password</c>, UTF-8 (we say <c>charset="UTF-8"</c>), else Latin-1.</summary>
    private static bool TryDecodeBasic(string parameter, out string user, out string password)
    {
        user = password = string.Empty;
        var buffer = new byte[parameter.Length];
        if (!Convert.TryFromBase64String(parameter, buffer, out var written))
        {
            return false;
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(buffer, 0, written);
        }
        catch (DecoderFallbackException)
        {
            text = Encoding.Latin1.GetString(buffer, 0, written);
        }
        finally
        {
            Array.Clear(buffer);
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        user = text[..colon];
        password = text[(colon + 1)..];
        return true;
    }

    /// <summary>
    /// 401 + E_ACCESSDENIED as an Ack, with one <c>WWW-Authenticate</c> per scheme the area accepts here. When no scheme
    /// can be offered (a Basic-only area reached over plain HTTP), 403: retrying cannot help.
    /// </summary>
    private BitsResponse Challenge(BitsArea area, BitsAuthenticationOptions rule, bool basicOffered, bool bearerError, string reason)
    {
        if (!basicOffered && !rule.Bearer)
        {
            return Refuse(area, BasicScheme, "This area accepts Basic credentials over HTTPS only.");
        }

        Log.Challenged(logger, area.Name, reason);
        var response = BitsResponse.Failure(BitsErrors.Unauthenticated.Error("Authentication is required: " + reason));
        if (basicOffered)
        {
            response.With("WWW-Authenticate", $"{BasicScheme} realm=\"{Quote(rule.Realm)}\", charset=\"UTF-8\"");
        }

        if (rule.Bearer)
        {
            // RFC 6750 §3: say invalid_token when a token was sent and refused.
            response.With("WWW-Authenticate", bearerError ? $"{BearerScheme} error=\"invalid_token\"" : BearerScheme);
        }

        return Count(response, area, "challenge");
    }

    /// <summary>403 + E_ACCESSDENIED: nothing the client can send here would help.</summary>
    private BitsResponse Refuse(BitsArea area, string scheme, string message)
    {
        Log.Refused(logger, area.Name, message);
        return Count(BitsResponse.Failure(BitsErrors.AuthRefused.Error(message)), area, scheme);
    }

    private BitsResponse Count(BitsResponse response, BitsArea area, string scheme)
    {
        handler.Metrics.AuthRefusals.Add(
            1,
            new KeyValuePair<string, object?>("http.response.status_code", response.StatusCode),
            new KeyValuePair<string, object?>("bits.area", area.Name),
            new KeyValuePair<string, object?>("bits.auth_scheme", scheme));
        return response;
    }

    private static string Quote(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    /// <summary>Never logs credentials, tokens or the Authorization header; user names only once authenticated.</summary>
    private static partial class Log
    {
        [LoggerMessage(EventId = BitsEventIds.AspNetCore.Challenged, Level = LogLevel.Information, Message = "Authentication required in area {Area}: {Reason}")]
        public static partial void Challenged(ILogger logger, string area, string reason);

        [LoggerMessage(EventId = BitsEventIds.AspNetCore.Refused, Level = LogLevel.Warning, Message = "Request refused in area {Area} with 403: {Reason}")]
        public static partial void Refused(ILogger logger, string area, string reason);

        [LoggerMessage(EventId = BitsEventIds.AspNetCore.UserNotAllowed, Level = LogLevel.Warning, Message = "Authenticated user {User} is not allowed in area {Area}")]
        public static partial void UserNotAllowed(ILogger logger, string area, string user);

        [LoggerMessage(EventId = BitsEventIds.AspNetCore.Authenticated, Level = LogLevel.Debug, Message = "Area {Area}: authenticated {Scheme} user {User}")]
        public static partial void Authenticated(ILogger logger, string area, string scheme, string user);

        [LoggerMessage(EventId = BitsEventIds.AspNetCore.Throttled, Level = LogLevel.Warning, Message = "Request throttled in area {Area}: {Limit}")]
        public static partial void Throttled(ILogger logger, string area, string limit);

        [LoggerMessage(EventId = BitsEventIds.AspNetCore.KeysUnavailable, Level = LogLevel.Error, Message = "Bearer token signing keys are unavailable for area {Area}: {Reason}")]
        public static partial void KeysUnavailable(ILogger logger, string area, string reason);
    }
}
