namespace Bits.Client;

/// <summary>The outcome of a completed (and closed) upload.</summary>
public sealed class BitsUploadResult
{
    /// <summary>The session that completed (after restarts: the last one).</summary>
    public required string SessionId { get; init; }

    /// <summary>Total length of the uploaded file.</summary>
    public long Bytes { get; init; }

    /// <summary>Fragment packets the server acknowledged with 200/416 (retries after transient failures not counted twice).</summary>
    public int FragmentsSent { get; init; }

    /// <summary>Fragments whose Ack reported an offset other than the end of what was sent (duplicate, overlap, gap, lost bytes).</summary>
    public int Retransmits { get; init; }

    /// <summary>How often the upload started over with a new session after BG_E_SESSION_NOT_FOUND.</summary>
    public int SessionRestarts { get; init; }

    /// <summary>Transient failures that were retried (network errors, 5xx, 408, 409, ...).</summary>
    public int TransientRetries { get; init; }

    /// <summary>Fragment size after any 413 shrinking.</summary>
    public long FinalFragmentBytes { get; init; }

    /// <summary><c>BITS-Reply-URL</c> of the final fragment's Ack (upload-reply); not downloaded.</summary>
    public string? ReplyUrl { get; init; }
}
