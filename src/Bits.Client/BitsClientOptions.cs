using Microsoft.Extensions.Logging;

namespace Bits.Client;

/// <summary>Settings of <see cref="BitsUploadClient"/>.</summary>
public sealed class BitsClientOptions
{
    /// <summary>Fragment size of the first fragment (kept within <see cref="MinFragmentBytes"/>..<see cref="MaxFragmentBytes"/>).</summary>
    public long InitialFragmentBytes { get; set; } = 1024 * 1024;

    /// <summary>On HTTP 413 fragments are halved, never below this; a 413 for a fragment this small is fatal.</summary>
    public long MinFragmentBytes { get; set; } = 5 * 1024;

    public long MaxFragmentBytes { get; set; } = 13 * 1024 * 1024;

    /// <summary>Headers sent on every request (e.g. <c>x-functions-key</c>).</summary>
    public IDictionary<string, string> CustomHeaders { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Retries of one packet after consecutive transient failures; 0 = no retries.</summary>
    public int MaxTransientRetries { get; set; } = 8;

    /// <summary>Base delay between transient retries, doubled per consecutive failure and capped at 30 s; <see cref="TimeSpan.Zero"/> = no delay.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often an upload starts over with a new session after BG_E_SESSION_NOT_FOUND.</summary>
    public int MaxSessionRestarts { get; set; } = 3;

    /// <summary>
    /// Consecutive fragment Acks that leave the offset at or below the highest offset acknowledged so far before the
    /// upload fails with BG_E_NO_PROGRESS (guards against a server that never advances).
    /// </summary>
    public int MaxFragmentsWithoutProgress { get; set; } = 16;

    /// <summary>
    /// Called with the session id after every successful Create-Session (also when an upload starts over with a new
    /// session), before the first fragment is sent: the place to record the session so an interrupted upload can be
    /// resumed with <see cref="BitsUploadClient.ResumeAsync"/>. An exception from it ends the upload.
    /// </summary>
    public Func<string, CancellationToken, Task>? SessionCreated { get; set; }

    /// <summary>
    /// Called once every byte is acknowledged, right before Close-Session, with the session and the final Ack's
    /// <c>BITS-Reply-URL</c>: the moment to download an upload-reply (<see cref="BitsUploadClient.DownloadReplyAsync"/>),
    /// since Close-Session deletes it. An exception from it ends the upload without Close-Session, so the session stays
    /// open and can be resumed (a resumed session whose bytes are all in gets the final Ack, and this call, again).
    /// </summary>
    public Func<BitsBeforeCloseContext, CancellationToken, Task>? BeforeClose { get; set; }

    /// <summary>Test hook: decides which bytes each fragment carries (to inject retransmissions, overlaps and gaps).</summary>
    public Func<FragmentRequest, FragmentPlan>? FragmentPlanner { get; set; }

    /// <summary>Receives one debug line per packet and one warning per retry; null = no logging.</summary>
    public ILogger? Logger { get; set; }
}

/// <summary>What <see cref="BitsClientOptions.BeforeClose"/> is told: the upload URL, the session, the file's length and the reply URL (null when the server sent none).</summary>
public sealed record BitsBeforeCloseContext(Uri Url, string SessionId, long Bytes, string? ReplyUrl);

/// <summary>What the client would send next: <see cref="NextOffset"/> is the server's last acknowledged offset.</summary>
public readonly record struct FragmentRequest(long NextOffset, long TotalLength, long SuggestedLength, int FragmentIndex);

/// <summary>The client sends bytes [<see cref="First"/>, <see cref="First"/> + <see cref="Length"/>) of the source.</summary>
public readonly record struct FragmentPlan(long First, long Length);
