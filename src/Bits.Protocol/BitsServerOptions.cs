using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>Protocol settings, bound from the <c>Bits</c> configuration section.</summary>
public sealed class BitsServerOptions
{
    public const string SectionName = "Bits";

    /// <summary>Largest Fragment body accepted; larger bodies get 413 so the client shrinks its fragments.</summary>
    public long MaxFragmentBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Memory for Fragment bodies, per process (<see cref="BitsFragmentMemory"/>): each Fragment body is read in chunks
    /// (64 KiB, then 1 MiB chunks, <see cref="BitsFragmentBody"/>), each leased only once bytes arrive for it and all
    /// given back once the bytes are stored; a chunk that does not fit waits, and when the Fragment's 30 s are up it
    /// gets 503. The first body already holding chunks that runs short runs on over the bound (one at a time), so the
    /// bound is this plus one Fragment. Returned buffers are kept for reuse within that bound.
    /// </summary>
    public long FragmentMemoryBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>
    /// How long this process uses the immutable facts of an open session it read from storage
    /// (<see cref="BitsSessionCache"/>), so a steady-state Fragment costs one storage write and no read; zero turns
    /// the cache off (every Fragment reads the session row).
    /// </summary>
    public TimeSpan SessionCacheLifetime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Largest file accepted (IIS BITSMaximumUploadSize); larger totals get 500 + BG_E_TOO_LARGE.</summary>
    public long MaxUploadBytes { get; set; } = 1L << 40;

    /// <summary>Whether an upload may replace an existing destination (IIS BITSAllowOverwrites).</summary>
    public bool AllowOverwrites { get; set; }

    /// <summary>How long a closed or cancelled session's tombstone answers repeated Close/Cancel with 200.</summary>
    public TimeSpan TombstoneLifetime { get; set; } = TimeSpan.FromDays(14);

    /// <summary>
    /// Whether the default area (every path no configured area claims) accepts uploads: the area key
    /// <see cref="BitsUploadAreaOptions.Enabled"/> at top level. Unlike the other top-level area keys, areas do not
    /// inherit it.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Idle time after which the janitor removes a session and its data (IIS BITSSessionTimeout).</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromDays(14);

    /// <summary>
    /// A session that has received no Fragment expires after this (issue 12: anonymous callers could otherwise keep
    /// rows for <see cref="SessionTimeout"/> without sending a byte); a client that comes back simply starts again.
    /// </summary>
    public TimeSpan UnusedSessionTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Open sessions one authenticated user may hold (IIS BITSNumberOfSessionsLimit); 0 for no limit.</summary>
    public int MaxSessionsPerUser { get; set; } = 50;

    /// <summary>Storage queue receiving a JSON event after each publish; empty for none.</summary>
    public string? CompletionQueue { get; set; }

    /// <summary>
    /// Absolute http(s) base URL of the service as clients reach it (e.g. <c>https://myapp.azurewebsites.net/</c>).
    /// Notification URLs and <c>BITS-Original-Request-URL</c> are built from it (the request path and query appended),
    /// never from request headers such as <c>Host</c>; <c>BITS-Reply-URL</c> uses it when set. Required when any
    /// area's <c>NotificationUrl</c> is relative.
    /// </summary>
    public Uri? PublicBaseUrl { get; set; }

    /// <summary>
    /// How long one request works on a <c>BITS-Copy-File-To-Destination</c> copy (upload-reply areas) before it answers:
    /// the final Fragment starts the copy, each Close-Session continues it and answers 503 + BG_E_HTTP_ERROR_503 until
    /// it is done. At most 30 s, so no request waits long for a large file.
    /// </summary>
    public TimeSpan CopyTimeBudget { get; set; } = DefaultCopyTimeBudget;

    /// <summary>Default of <see cref="CopyTimeBudget"/>: 25 s.</summary>
    public static readonly TimeSpan DefaultCopyTimeBudget = TimeSpan.FromSeconds(25);

    /// <summary>Largest <see cref="CopyTimeBudget"/>: 30 s.</summary>
    public static readonly TimeSpan MaxCopyTimeBudget = TimeSpan.FromSeconds(30);

    /// <summary>Largest reply a server application may give (by value: its response body; by reference: the reply blob).</summary>
    public long MaxReplyBytes { get; set; } = DefaultMaxReplyBytes;

    /// <summary>Default of <see cref="MaxReplyBytes"/>: 16 MiB.</summary>
    public const long DefaultMaxReplyBytes = 16 * 1024 * 1024;

    /// <summary>Who may upload to the default area, and to areas without their own rule.</summary>
    public BitsAuthenticationOptions Authentication { get; set; } = new();

    /// <summary>Named upload areas (the IIS virtual directories), matched by path prefix under the upload route.</summary>
    public Dictionary<string, BitsUploadAreaOptions> Areas { get; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>Checks <see cref="BitsServerOptions"/> at start-up with precise messages.</summary>
public sealed class BitsServerOptionsValidator : IValidateOptions<BitsServerOptions>
{
    /// <summary>The smallest fragment Windows sends after a 413 (rule 6a.16); a lower limit would stall every upload.</summary>
    public const long MinimumMaxFragmentBytes = 5120;

    private readonly BitsHostLimits _limits;
    private readonly string? _defaultContainer;

    /// <summary>Validates for the self-hosted (Kestrel) limits, without knowing the store's default container.</summary>
    public BitsServerOptionsValidator()
        : this(null, Options.Create(new BitsHostLimits()))
    {
    }

    /// <param name="defaultContainer">The store's default upload container (<c>BitsStorage:UploadContainer</c>), so an
    /// area naming it explicitly is seen to share it with areas that leave <c>Container</c> empty.</param>
    /// <param name="limits">Limits of the host this runs on (<see cref="BitsHostLimits"/>).</param>
    public BitsServerOptionsValidator(string? defaultContainer, IOptions<BitsHostLimits> limits)
    {
        _limits = limits.Value;
        _defaultContainer = string.IsNullOrWhiteSpace(defaultContainer) ? null : defaultContainer;
    }

    public ValidateOptionsResult Validate(string? name, BitsServerOptions options)
    {
        var failures = new List<string>();
        if (options.MaxFragmentBytes is < MinimumMaxFragmentBytes or > 100L * 1024 * 1024)
        {
            failures.Add($"Bits:MaxFragmentBytes must be between 5120 (Windows never sends a fragment smaller than 5 KB, even after a 413) and 104857600 (Azure's append-block limit); it is {options.MaxFragmentBytes}.");
        }

        if (options.FragmentMemoryBytes < 1024 * 1024)
        {
            failures.Add($"Bits:FragmentMemoryBytes must be at least 1048576 (1 MiB); it is {options.FragmentMemoryBytes}.");
        }

        if (options.SessionCacheLifetime < TimeSpan.Zero || options.SessionCacheLifetime > TimeSpan.FromHours(1))
        {
            failures.Add($"Bits:SessionCacheLifetime must be between 00:00:00 (off) and 01:00:00; it is {options.SessionCacheLifetime}.");
        }

        if (options.MaxUploadBytes < 0)
        {
            failures.Add($"Bits:MaxUploadBytes must not be negative; it is {options.MaxUploadBytes}.");
        }

        if (options.TombstoneLifetime <= TimeSpan.Zero)
        {
            failures.Add($"Bits:TombstoneLifetime must be positive; it is {options.TombstoneLifetime}.");
        }

        if (options.SessionTimeout <= TimeSpan.Zero)
        {
            failures.Add($"Bits:SessionTimeout must be positive; it is {options.SessionTimeout}.");
        }

        if (options.UnusedSessionTimeout <= TimeSpan.Zero)
        {
            failures.Add($"Bits:UnusedSessionTimeout must be positive; it is {options.UnusedSessionTimeout}.");
        }

        if (options.MaxSessionsPerUser < 0)
        {
            failures.Add($"Bits:MaxSessionsPerUser must not be negative; it is {options.MaxSessionsPerUser}.");
        }

        if (options.CopyTimeBudget <= TimeSpan.Zero || options.CopyTimeBudget > BitsServerOptions.MaxCopyTimeBudget)
        {
            failures.Add($"Bits:CopyTimeBudget must be more than 0 and at most {BitsServerOptions.MaxCopyTimeBudget}; it is {options.CopyTimeBudget}.");
        }

        if (options.MaxReplyBytes < 0)
        {
            failures.Add($"Bits:MaxReplyBytes must not be negative; it is {options.MaxReplyBytes}.");
        }

        if (options.PublicBaseUrl is { } publicBase
            && (!publicBase.IsAbsoluteUri || (publicBase.Scheme != Uri.UriSchemeHttp && publicBase.Scheme != Uri.UriSchemeHttps)
                || publicBase.Query.Length > 0 || publicBase.Fragment.Length > 0 || publicBase.UserInfo.Length > 0))
        {
            failures.Add($"Bits:PublicBaseUrl must be an absolute http(s) URL without user info, query or fragment, e.g. https://myapp.azurewebsites.net/; it is '{publicBase.OriginalString}'.");
        }

        foreach (var (areaName, area) in options.Areas)
        {
            if (options.PublicBaseUrl is null && area.NotificationType != BitsNotificationType.None && IsRelativeUrl(area.NotificationUrl))
            {
                failures.Add($"Bits:PublicBaseUrl is required: Bits:Areas:{areaName}:NotificationUrl '{area.NotificationUrl}' is relative, and it is resolved against the public URL of the upload, never against the request's Host header.");
            }
        }

        CheckQueue(options.CompletionQueue, "Bits:CompletionQueue", failures);
        var prefixes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (areaName, area) in options.Areas)
        {
            ValidateArea(areaName, area, prefixes, failures);
        }

        if (failures.Count == 0)
        {
            CheckSharedNames(new BitsAreaCatalog(options).Areas, failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private void ValidateArea(string name, BitsUploadAreaOptions area, Dictionary<string, string> prefixes, List<string> failures)
    {
        var key = $"Bits:Areas:{name}";
        if (!BitsAreaCatalog.AreaName.IsMatch(name))
        {
            failures.Add($"{key}: an area name is 1-63 letters, digits, '-' or '_'.");
        }

        var prefix = area.PathPrefix.Trim('/');
        if (prefix.Length > 0 && !DestinationPath.TryParse(prefix, out _, out var problem))
        {
            failures.Add($"{key}:PathPrefix '{area.PathPrefix}' is not a valid path: {problem}");
        }

        if (!prefixes.TryAdd(prefix, name))
        {
            failures.Add($"{key}:PathPrefix '{prefix}' is already used by area '{prefixes[prefix]}'.");
        }

        if (!string.IsNullOrEmpty(area.Container) && !IsContainerName(area.Container))
        {
            failures.Add($"{key}:Container '{area.Container}' is not a valid container name (3-63 lower-case letters, digits and single hyphens).");
        }

        if (!string.IsNullOrEmpty(area.BlobPrefix) && (area.BlobPrefix.StartsWith('/') || area.BlobPrefix.Contains("..", StringComparison.Ordinal) || area.BlobPrefix.Contains('\\', StringComparison.Ordinal)))
        {
            failures.Add($"{key}:BlobPrefix '{area.BlobPrefix}' must be a relative blob-name prefix without '..' or backslashes.");
        }

        if (area.MaxUploadBytes is < 0)
        {
            failures.Add($"{key}:MaxUploadBytes must not be negative.");
        }

        if (area.SessionTimeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            failures.Add($"{key}:SessionTimeout must be positive.");
        }

        if (area.MaxSessionsPerUser is < 0)
        {
            failures.Add($"{key}:MaxSessionsPerUser must not be negative.");
        }

        if (area.NotificationType != BitsNotificationType.None)
        {
            if (string.IsNullOrWhiteSpace(area.NotificationUrl))
            {
                failures.Add($"{key}:NotificationUrl is required when NotificationType is {area.NotificationType}.");
            }
            else if (area.NotificationUrl.Length > 2200)
            {
                failures.Add($"{key}:NotificationUrl is longer than 2200 characters.");
            }
            else if (!IsRelativeUrl(area.NotificationUrl) && Uri.TryCreate(area.NotificationUrl, UriKind.Absolute, out var absolute) && absolute.Scheme != Uri.UriSchemeHttp && absolute.Scheme != Uri.UriSchemeHttps)
            {
                failures.Add($"{key}:NotificationUrl must be an http(s) URL or a relative URL.");
            }
        }

        if (area.NotificationTimeout <= TimeSpan.Zero || area.NotificationTimeout > _limits.MaxNotificationTimeout)
        {
            failures.Add($"{key}:NotificationTimeout must be more than 0 and at most {_limits.MaxNotificationTimeout} on this host ({_limits.MaxNotificationTimeoutReason}); it is {area.NotificationTimeout}.");
        }

        CheckQueue(area.CompletionQueue, $"{key}:CompletionQueue", failures);
    }

    /// <summary>
    /// Refuses two areas whose URLs can name the same blob (issue 12, point 2): otherwise an upload through one area's
    /// rules (say anonymous) takes or replaces a file of the other's. Area A (URL prefix Pa, blob prefix Ba) and B (Pb,
    /// Bb) in the same container, with Bb = Ba + d, both reach blob Bb + x: B from <c>Pb/x</c>, A from <c>Pa/d+x</c>.
    /// That is harmless only when A's URL is B's URL for every x (A's would-be URLs are then routed to B by the longest
    /// prefix: the exact shadowing of <c>PathPrefix=sec</c> with <c>BlobPrefix=sec/</c> beside the default area).
    /// </summary>
    private void CheckSharedNames(IReadOnlyList<BitsArea> areas, List<string> failures)
    {
        for (var i = 0; i < areas.Count; i++)
        {
            for (var j = i + 1; j < areas.Count; j++)
            {
                var (a, b) = areas[i].BlobPrefix.Length <= areas[j].BlobPrefix.Length ? (areas[i], areas[j]) : (areas[j], areas[i]);
                if (!string.Equals(a.Container ?? _defaultContainer, b.Container ?? _defaultContainer, StringComparison.Ordinal)
                    || !b.BlobPrefix.StartsWith(a.BlobPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var d = b.BlobPrefix[a.BlobPrefix.Length..];
                var urlThroughA = a.PathPrefix.Length == 0 ? d : a.PathPrefix + "/" + d;
                var urlThroughB = b.PathPrefix.Length == 0 ? string.Empty : b.PathPrefix + "/";
                if (d.Length > 0 && string.Equals(urlThroughA, urlThroughB, StringComparison.Ordinal))
                {
                    continue;
                }

                failures.Add(
                    $"Bits:Areas: areas '{a.Name}' and '{b.Name}' can store to the same blob names in container " +
                    $"'{a.Container ?? _defaultContainer ?? "(default)"}' (for example /uploads/{Example(a, d)} and /uploads/{Example(b, string.Empty)}); " +
                    $"give one its own Container, or a BlobPrefix equal to its PathPrefix plus '/'.");
            }
        }

        static string Example(BitsArea area, string d) => (area.PathPrefix.Length == 0 ? string.Empty : area.PathPrefix + "/") + d + "x.bin";
    }

    private static void CheckQueue(string? queue, string key, List<string> failures)
    {
        if (!string.IsNullOrEmpty(queue) && !IsContainerName(queue))
        {
            failures.Add($"{key} '{queue}' is not a valid queue name (3-63 lower-case letters, digits and single hyphens).");
        }
    }

    /// <summary>Whether a configured notification URL is relative (a leading '/' is a path, not a file URL).</summary>
    public static bool IsRelativeUrl(string? url) =>
        !string.IsNullOrWhiteSpace(url) && (url.StartsWith('/') || !Uri.TryCreate(url, UriKind.Absolute, out _));

    /// <summary>Container and queue names share one rule.</summary>
    public static bool IsContainerName(string value) =>
        value.Length is >= 3 and <= 63 && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
        && !value.StartsWith('-') && !value.EndsWith('-') && !value.Contains("--", StringComparison.Ordinal);
}

/// <summary>
/// Limits that depend on where the server runs, not on configuration (rule 6a.14). The Kestrel host keeps the
/// defaults; the Functions app lowers them for Azure's front ends.
/// </summary>
public sealed class BitsHostLimits
{
    /// <summary>Self-hosted: below the Windows client's 5-minute response timer, with a minute to spare for the upload.</summary>
    public static readonly TimeSpan SelfHostedMaxNotificationTimeout = TimeSpan.FromMinutes(4);

    /// <summary>Behind Azure's front ends, which cut an HTTP-triggered function's request at 230 s.</summary>
    public static readonly TimeSpan AzureFrontEndMaxNotificationTimeout = TimeSpan.FromSeconds(200);

    /// <summary>The longest <c>NotificationTimeout</c> an area may have on this host.</summary>
    public TimeSpan MaxNotificationTimeout { get; set; } = SelfHostedMaxNotificationTimeout;

    /// <summary>Why <see cref="MaxNotificationTimeout"/> is what it is, for the start-up message.</summary>
    public string MaxNotificationTimeoutReason { get; set; } = "the Windows client abandons a request after 5 minutes";
}
