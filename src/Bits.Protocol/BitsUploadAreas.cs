using System.Text.RegularExpressions;

namespace Bits.Protocol;

/// <summary>How the server application hears about a completed upload (IIS BITSServerNotificationType).</summary>
public enum BitsNotificationType
{
    /// <summary>No back-end: the file is published to its destination at Close-Session.</summary>
    None = 0,

    /// <summary>POST with SAS URLs of the uploaded data and of a reply blob (the cloud form of IIS's file paths).</summary>
    ByReference = 1,

    /// <summary>POST with the uploaded bytes as the body; the response body is the reply.</summary>
    ByValue = 2,
}

/// <summary>
/// One upload area: the cloud form of an IIS virtual directory with BITS uploads. Requests whose path under the upload
/// route starts with <see cref="PathPrefix"/> belong to it. The default area (every other path) is configured by the same
/// keys at the top of <c>Bits</c> (<see cref="BitsServerOptions"/>), and settings an area leaves empty take those values.
/// </summary>
public sealed class BitsUploadAreaOptions
{
    /// <summary>Leading path segments under the upload route, e.g. <c>reports</c> or <c>teams/finance</c>.</summary>
    public string PathPrefix { get; set; } = string.Empty;

    /// <summary>Container receiving the area's files; empty for <c>BitsStorage:UploadContainer</c>.</summary>
    public string? Container { get; set; }

    /// <summary>Prefix put before the path (below <see cref="PathPrefix"/>) to form the blob name, e.g. <c>incoming/</c>.</summary>
    public string? BlobPrefix { get; set; }

    /// <summary>BITS uploads allowed here (IIS BITSUploadEnabled); disabled areas answer 501 + E_ACCESSDENIED.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>IIS BITSMaximumUploadSize.</summary>
    public long? MaxUploadBytes { get; set; }

    /// <summary>IIS BITSAllowOverwrites.</summary>
    public bool? AllowOverwrites { get; set; }

    /// <summary>IIS BITSSessionTimeout: idle time after which the janitor removes a session.</summary>
    public TimeSpan? SessionTimeout { get; set; }

    /// <summary>IIS BITSNumberOfSessionsLimit (per authenticated user); 0 disables the limit.</summary>
    public int? MaxSessionsPerUser { get; set; }

    /// <summary>IIS BITSServerNotificationType.</summary>
    public BitsNotificationType NotificationType { get; set; }

    /// <summary>IIS BITSServerNotificationURL; relative URLs resolve against the upload URL's directory.</summary>
    public string? NotificationUrl { get; set; }

    /// <summary>
    /// How long the back-end may take to answer: 3 minutes by default; at most 4 minutes on the Kestrel host (the
    /// Windows client's response timer is 5) and 200 s in the Functions app (Azure's front ends cut requests at 230 s).
    /// </summary>
    public TimeSpan NotificationTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>Storage queue that receives a JSON completion event after each publish; empty for none.</summary>
    public string? CompletionQueue { get; set; }

    /// <summary>Who may upload here; null for <c>Bits:Authentication</c>.</summary>
    public BitsAuthenticationOptions? Authentication { get; set; }
}

/// <summary>An area with every setting resolved.</summary>
public sealed record BitsArea(
    string Name,
    string PathPrefix,
    string? Container,
    string BlobPrefix,
    bool Enabled,
    long MaxUploadBytes,
    bool AllowOverwrites,
    TimeSpan SessionTimeout,
    int MaxSessionsPerUser,
    BitsNotificationType NotificationType,
    string? NotificationUrl,
    TimeSpan NotificationTimeout,
    string? CompletionQueue,
    BitsAuthenticationOptions Authentication);

/// <summary>A destination resolved from a URL path: its area and the blob it names.</summary>
public sealed record BitsDestination(BitsArea Area, string Path, string BlobName)
{
    public string? Container => Area.Container;
}

/// <summary>Maps a URL path under the upload route to its area (longest matching prefix) and blob name.</summary>
public sealed class BitsAreaCatalog
{
    public const string DefaultAreaName = "default";

    private readonly List<BitsArea> _areas;

    public BitsAreaCatalog(BitsServerOptions options)
    {
        var defaults = new BitsArea(
            DefaultAreaName, string.Empty, null, string.Empty, options.Enabled, options.MaxUploadBytes, options.AllowOverwrites,
            options.SessionTimeout, options.MaxSessionsPerUser, BitsNotificationType.None, null, TimeSpan.FromMinutes(5), options.CompletionQueue,
            options.Authentication);
        _areas = [];
        foreach (var (name, area) in options.Areas)
        {
            _areas.Add(new BitsArea(
                name,
                area.PathPrefix.Trim('/'),
                string.IsNullOrWhiteSpace(area.Container) ? null : area.Container,
                area.BlobPrefix ?? string.Empty,
                area.Enabled,
                area.MaxUploadBytes ?? options.MaxUploadBytes,
                area.AllowOverwrites ?? options.AllowOverwrites,
                area.SessionTimeout ?? options.SessionTimeout,
                area.MaxSessionsPerUser ?? options.MaxSessionsPerUser,
                area.NotificationType,
                string.IsNullOrWhiteSpace(area.NotificationUrl) ? null : area.NotificationUrl,
                area.NotificationTimeout,
                string.IsNullOrWhiteSpace(area.CompletionQueue) ? options.CompletionQueue : area.CompletionQueue,
                area.Authentication ?? options.Authentication));
        }

        if (!_areas.Any(a => a.PathPrefix.Length == 0))
        {
            _areas.Add(defaults);
        }

        // Longest prefix first, so "teams/finance" wins over "teams".
        _areas.Sort((a, b) => b.PathPrefix.Length.CompareTo(a.PathPrefix.Length));
    }

    public IReadOnlyList<BitsArea> Areas => _areas;

    public BitsArea? Find(string name) => _areas.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.Ordinal));

    /// <summary>The area of a decoded, validated destination path and the blob name it maps to.</summary>
    public BitsDestination Resolve(string path)
    {
        foreach (var area in _areas)
        {
            if (area.PathPrefix.Length == 0)
            {
                return new BitsDestination(area, path, area.BlobPrefix + path);
            }

            if (path.Length > area.PathPrefix.Length && path.StartsWith(area.PathPrefix, StringComparison.Ordinal) && path[area.PathPrefix.Length] == '/')
            {
                return new BitsDestination(area, path, area.BlobPrefix + path[(area.PathPrefix.Length + 1)..]);
            }
        }

        // The catalog always holds an area with an empty prefix.
        throw new System.Diagnostics.UnreachableException("No catch-all upload area.");
    }

    internal static readonly Regex AreaName = new("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}
