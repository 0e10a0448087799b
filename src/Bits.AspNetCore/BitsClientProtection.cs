using System.Net;
using System.Threading.RateLimiting;
using Bits.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>
/// The only senders whose client-address header (<see cref="ForwardedForHeaderName"/>) and <c>X-Forwarded-Proto</c>
/// count (<c>Bits:ForwardedHeaders</c>); with both lists empty, forwarded headers are ignored and the client is the
/// connection's peer. Behind the Functions host the worker already sees the host's peer as its connection's address
/// (the host replaces <c>X-Forwarded-For</c> with it and the worker's ASP.NET Core integration applies it), so nothing
/// needs configuring there unless another front end (Azure Front Door, a gateway) stands before the host.
/// </summary>
public sealed class BitsForwardedHeadersOptions
{
    public const string SectionName = "Bits:ForwardedHeaders";

    /// <summary>The header a trusted proxy puts the client address in; only its last entry counts.</summary>
    public const string DefaultForwardedForHeaderName = "X-Forwarded-For";

    /// <summary>IP addresses of trusted proxies (e.g. a gateway in front of the Kestrel host).</summary>
    public List<string> KnownProxies { get; } = [];

    /// <summary>CIDR ranges of trusted proxies, e.g. <c>10.0.0.0/8</c>.</summary>
    public List<string> KnownNetworks { get; } = [];

    /// <summary>
    /// The header that carries the client address from a trusted proxy. Behind the Functions host the front end's
    /// <c>X-Forwarded-For</c> never reaches the app (the host replaces it), so behind Azure Front Door this is
    /// <c>X-Azure-ClientIP</c>, with Front Door's ranges in <see cref="KnownNetworks"/>.
    /// </summary>
    public string ForwardedForHeaderName { get; set; } = DefaultForwardedForHeaderName;
}

/// <summary>Per-client-address limits (<c>Bits:RateLimits</c>): counts per <see cref="Window"/>, 0 turns one off.</summary>
public sealed class BitsRateLimitOptions
{
    public const string SectionName = "Bits:RateLimits";

    /// <summary>The fixed window the counts below apply to.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Failed Basic attempts per (user name, client address) before further Basic attempts are throttled.</summary>
    public int FailedBasicPerUserAndAddress { get; set; } = 10;

    /// <summary>Failed Basic attempts per client address (any user names) before further Basic attempts are throttled.</summary>
    public int FailedBasicPerAddress { get; set; } = 50;

    /// <summary>Create-Session packets per client address in anonymous areas (without credentials).</summary>
    public int AnonymousSessionsPerAddress { get; set; } = 300;
}

/// <summary>Checks <see cref="BitsForwardedHeadersOptions"/> and <see cref="BitsRateLimitOptions"/> at start-up.</summary>
internal sealed class BitsClientProtectionValidator : IValidateOptions<BitsForwardedHeadersOptions>, IValidateOptions<BitsRateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, BitsForwardedHeadersOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.KnownProxies.Count; i++)
        {
            if (!IPAddress.TryParse(options.KnownProxies[i], out _))
            {
                failures.Add($"{BitsForwardedHeadersOptions.SectionName}:KnownProxies:{i} '{options.KnownProxies[i]}' is not an IP address.");
            }
        }

        for (var i = 0; i < options.KnownNetworks.Count; i++)
        {
            if (!System.Net.IPNetwork.TryParse(options.KnownNetworks[i], out _))
            {
                failures.Add($"{BitsForwardedHeadersOptions.SectionName}:KnownNetworks:{i} '{options.KnownNetworks[i]}' is not a CIDR range (e.g. 10.0.0.0/8).");
            }
        }

        if (string.IsNullOrWhiteSpace(options.ForwardedForHeaderName) || !options.ForwardedForHeaderName.All(IsTokenChar))
        {
            failures.Add($"{BitsForwardedHeadersOptions.SectionName}:ForwardedForHeaderName '{options.ForwardedForHeaderName}' is not a header name (e.g. X-Forwarded-For, X-Azure-ClientIP).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>RFC 9110 token characters (header field names).</summary>
    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);

    public ValidateOptionsResult Validate(string? name, BitsRateLimitOptions options)
    {
        var failures = new List<string>();
        if (options.Window <= TimeSpan.Zero || options.Window > TimeSpan.FromDays(1))
        {
            failures.Add($"{BitsRateLimitOptions.SectionName}:Window must be between 00:00:00 (exclusive) and 1.00:00:00; it is {options.Window}.");
        }

        foreach (var (key, value) in new[]
        {
            (nameof(options.FailedBasicPerUserAndAddress), options.FailedBasicPerUserAndAddress),
            (nameof(options.FailedBasicPerAddress), options.FailedBasicPerAddress),
            (nameof(options.AnonymousSessionsPerAddress), options.AnonymousSessionsPerAddress),
        })
        {
            if (value < 0)
            {
                failures.Add($"{BitsRateLimitOptions.SectionName}:{key} must not be negative (0 turns the limit off); it is {value}.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// The client address of a request: the connection's, or the forwarded one when the connection comes from a configured
/// proxy, through ASP.NET Core's <see cref="ForwardedHeadersMiddleware"/> (which also sets the scheme from
/// <c>X-Forwarded-Proto</c>). Only the last entry counts (<c>ForwardLimit</c> 1): earlier ones are whatever the caller
/// wrote. Applied once per request by <see cref="BitsHttp.HandleAsync"/>, so the Kestrel host and the Functions worker
/// behave the same without app middleware. In the Functions worker the connection's address is already the one the
/// Functions host saw (the host sets <c>X-Forwarded-For</c> to it, dropping the caller's, and the worker's ASP.NET
/// Core integration applies it from loopback), so the configured proxies are the ones in front of the host.
/// </summary>
internal sealed class BitsClientAddress
{
    private static readonly object AppliedKey = new();
    private readonly ForwardedHeadersMiddleware? _forwarded;

    public BitsClientAddress(IOptions<BitsForwardedHeadersOptions> options, ILoggerFactory loggerFactory)
    {
        var forwarded = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            ForwardedForHeaderName = options.Value.ForwardedForHeaderName,
            ForwardLimit = 1,
        };

        // ASP.NET Core trusts loopback by default; here only what is configured counts.
        forwarded.KnownProxies.Clear();
        forwarded.KnownIPNetworks.Clear();
        foreach (var proxy in options.Value.KnownProxies)
        {
            forwarded.KnownProxies.Add(IPAddress.Parse(proxy));
        }

        foreach (var network in options.Value.KnownNetworks)
        {
            forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        }

        // The middleware trusts every sender when both lists are empty; here empty means forwarded headers never count.
        _forwarded = forwarded.KnownProxies.Count + forwarded.KnownIPNetworks.Count == 0 ? null : new ForwardedHeadersMiddleware(_ => Task.CompletedTask, loggerFactory, Options.Create(forwarded));
    }

    /// <summary>Applies trusted forwarded headers to the request (once) and returns the client address.</summary>
    public string Apply(HttpContext context)
    {
        if (_forwarded is not null && !context.Items.ContainsKey(AppliedKey))
        {
            context.Items[AppliedKey] = true;
            _forwarded.ApplyForwarders(context);
        }

        return context.Connection.RemoteIpAddress is { } address
            ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString()
            : "unknown";
    }
}

/// <summary>
/// Per-address throttling with <see cref="System.Threading.RateLimiting"/> (fixed windows): failed Basic attempts per
/// (user, address) and per address, and anonymous Create-Session packets per address. A throttled packet gets 503 +
/// <c>0x801901F7</c> + <c>Retry-After</c>: Windows retries a 503 later, while a 429 would be a fatal 4xx to it.
/// </summary>
internal sealed class BitsRateLimits : IDisposable
{
    private readonly PartitionedRateLimiter<string>? _failedBasicPerUser;
    private readonly PartitionedRateLimiter<string>? _failedBasicPerAddress;
    private readonly PartitionedRateLimiter<string>? _anonymousSessions;
    private readonly TimeSpan _window;

    public BitsRateLimits(IOptions<BitsRateLimitOptions> options)
    {
        var o = options.Value;
        _window = o.Window;
        _failedBasicPerUser = Create(o.FailedBasicPerUserAndAddress, o.Window);
        _failedBasicPerAddress = Create(o.FailedBasicPerAddress, o.Window);
        _anonymousSessions = Create(o.AnonymousSessionsPerAddress, o.Window);
    }

    private static PartitionedRateLimiter<string>? Create(int permits, TimeSpan window) => permits <= 0 ? null :
        PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = permits,
            Window = window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Whether Basic attempts for this user from this address are throttled now (a check only: nothing is counted).</summary>
    public bool BasicThrottled(string user, string address, out TimeSpan retryAfter)
    {
        var perUser = Exhausted(_failedBasicPerUser, UserKey(user, address), out var userWait);
        var perAddress = Exhausted(_failedBasicPerAddress, address, out var addressWait);
        retryAfter = userWait > addressWait ? userWait : addressWait;
        return perUser || perAddress;
    }

    /// <summary>Counts one failed Basic attempt.</summary>
    public void BasicFailed(string user, string address)
    {
        _failedBasicPerUser?.AttemptAcquire(UserKey(user, address)).Dispose();
        _failedBasicPerAddress?.AttemptAcquire(address).Dispose();
    }

    /// <summary>Counts an anonymous Create-Session; false (with the wait) when the address is over its limit.</summary>
    public bool TryOpenAnonymousSession(string address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (_anonymousSessions is null)
        {
            return true;
        }

        using var lease = _anonymousSessions.AttemptAcquire(address);
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : _window;
        return false;
    }

    /// <summary>The throttling Ack.</summary>
    public static BitsResponse Throttled(TimeSpan retryAfter, BitsError error)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        return BitsResponse.Failure(error)
            .With("Retry-After", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private bool Exhausted(PartitionedRateLimiter<string>? limiter, string key, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (limiter is null)
        {
            return false;
        }

        // Zero permits: succeeds while any are left, counts nothing.
        using var lease = limiter.AttemptAcquire(key, 0);
        if (lease.IsAcquired)
        {
            return false;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : _window;
        return true;
    }

    /// <summary>User names match case-insensitively (as <c>Bits:Authentication:BasicUsers</c>), so the key does too.</summary>
    private static string UserKey(string user, string address) => user.ToUpperInvariant() + "\n" + address;

    public void Dispose()
    {
        _failedBasicPerUser?.Dispose();
        _failedBasicPerAddress?.Dispose();
        _anonymousSessions?.Dispose();
    }
}
