namespace Bits.Protocol;

/// <summary>Who failed: the BITS server itself or the notified server application (BG_ERROR_CONTEXT).</summary>
public enum BitsErrorContext
{
    RemoteFile = 0x5,
    RemoteApplication = 0x7,
}

/// <summary>HRESULTs a BITS server returns in <c>BITS-Error-Code</c>.</summary>
public static class BitsHResults
{
    public const uint E_ACCESSDENIED = 0x80070005;
    public const uint E_INVALIDARG = 0x80070057;
    public const uint E_FAIL = 0x80004005;
    public const uint BG_E_SESSION_NOT_FOUND = 0x8020001F;
    public const uint BG_E_TOO_LARGE = 0x80200020;
    public const uint BG_E_HTTP_ERROR_BASE = 0x80190000;

    /// <summary>BG_E_HTTP_ERROR_503: what the client itself derives from a bare 503; sent with every transient 503 (rule 6a.11).</summary>
    public const uint BG_E_HTTP_ERROR_503 = 0x801901F7;

    /// <summary>BG_E_HTTP_ERROR_nnn: the client's code for a raw HTTP status.</summary>
    public static uint HttpError(int status) => BG_E_HTTP_ERROR_BASE + (uint)status;

    public static string Format(uint hresult) => "0x" + hresult.ToString("X8", System.Globalization.CultureInfo.InvariantCulture);

    public static string Format(BitsErrorContext context) => "0x" + ((int)context).ToString("X", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Stable identifiers of protocol errors. Values are explicit and never renumbered (they appear in metrics and logs).
/// </summary>
public enum BitsErrorKind
{
    InvalidArgument = 1,
    SessionNotFound = 2,
    AccessDenied = 3,
    UploadsDisabled = 4,
    TooLarge = 5,
    FragmentTooLarge = 6,
    StorageUnavailable = 7,
    InternalError = 8,
    DestinationExists = 9,
    MethodNotAllowed = 10,
    Unauthenticated = 11,
    SessionLimitReached = 12,
    BackEndFailed = 13,
    NotFound = 14,
    ServerBusy = 15,
    BodyIncomplete = 16,
}

/// <summary>A protocol error as a value: HTTP status, HRESULT and context, plus a message for logs.</summary>
public sealed record BitsError(BitsErrorKind Kind, int StatusCode, uint HResult, BitsErrorContext Context, string Message)
{
    public static BitsError InvalidArgument(string message) =>
        new(BitsErrorKind.InvalidArgument, 400, BitsHResults.E_INVALIDARG, BitsErrorContext.RemoteFile, message);

    public static BitsError SessionNotFound(string message = "The session does not exist or has expired.") =>
        new(BitsErrorKind.SessionNotFound, 500, BitsHResults.BG_E_SESSION_NOT_FOUND, BitsErrorContext.RemoteFile, message);

    public static BitsError AccessDenied(string message) =>
        new(BitsErrorKind.AccessDenied, 403, BitsHResults.E_ACCESSDENIED, BitsErrorContext.RemoteFile, message);

    public static BitsError DestinationExists(string message) =>
        new(BitsErrorKind.DestinationExists, 403, BitsHResults.E_ACCESSDENIED, BitsErrorContext.RemoteFile, message);

    public static BitsError UploadsDisabled(string message) =>
        new(BitsErrorKind.UploadsDisabled, 501, BitsHResults.E_ACCESSDENIED, BitsErrorContext.RemoteFile, message);

    public static BitsError TooLarge(string message) =>
        new(BitsErrorKind.TooLarge, 500, BitsHResults.BG_E_TOO_LARGE, BitsErrorContext.RemoteFile, message);

    /// <summary>413: makes the Windows client retry with smaller fragments.</summary>
    public static BitsError FragmentTooLarge(string message) =>
        new(BitsErrorKind.FragmentTooLarge, 413, BitsHResults.HttpError(413), BitsErrorContext.RemoteFile, message);

    /// <summary>A transient storage failure: 503 + BG_E_HTTP_ERROR_503, which the client retries (rule 6a.11).</summary>
    public static BitsError StorageUnavailable(string message) =>
        new(BitsErrorKind.StorageUnavailable, 503, BitsHResults.BG_E_HTTP_ERROR_503, BitsErrorContext.RemoteFile, message);

    /// <summary>
    /// 503: the server is at its limit of fragment memory, or the <c>BITS-Copy-File-To-Destination</c> copy of a session
    /// is still running; the client retries (rule 6a.11).
    /// </summary>
    public static BitsError ServerBusy(string message) =>
        new(BitsErrorKind.ServerBusy, 503, BitsHResults.BG_E_HTTP_ERROR_503, BitsErrorContext.RemoteFile, message);

    /// <summary>
    /// 503: something the server depends on (for example the token issuer's signing keys) is unreachable for now; the
    /// client retries (rule 6a.11).
    /// </summary>
    public static BitsError DependencyUnavailable(string message) =>
        new(BitsErrorKind.StorageUnavailable, 503, BitsHResults.BG_E_HTTP_ERROR_503, BitsErrorContext.RemoteFile, message);

    /// <summary>
    /// 503: a Fragment body that ended early or was cut for arriving too slowly. Transient (rule 6a.10): the client sends
    /// the range again; nothing of the body was stored.
    /// </summary>
    public static BitsError BodyIncomplete(string message) =>
        new(BitsErrorKind.BodyIncomplete, 503, BitsHResults.BG_E_HTTP_ERROR_503, BitsErrorContext.RemoteFile, message);

    public static BitsError InternalError(string message) =>
        new(BitsErrorKind.InternalError, 500, BitsHResults.E_FAIL, BitsErrorContext.RemoteFile, message);

    /// <summary>409: the user holds too many open sessions; Windows treats 409 as transient and retries later.</summary>
    public static BitsError SessionLimitReached(string message) =>
        new(BitsErrorKind.SessionLimitReached, 409, BitsHResults.HttpError(409), BitsErrorContext.RemoteFile, message);

    public static BitsError MethodNotAllowed(string message) =>
        new(BitsErrorKind.MethodNotAllowed, 405, BitsHResults.HttpError(405), BitsErrorContext.RemoteFile, message);
}
