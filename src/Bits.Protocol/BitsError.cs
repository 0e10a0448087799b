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
    DependencyUnavailable = 17,
}

/// <summary>
/// One reason the server answers an error Ack: a stable string <see cref="Code"/> (<c>component.reason</c>, lower case;
/// in the <c>PacketFailed</c> log line, the <c>bits.error_reason</c> metric tag and on <see cref="BitsError.Code"/>) and
/// the wire values it is sent with. Every reason is declared once, in <see cref="BitsErrors"/>.
/// </summary>
public sealed class BitsErrorReason
{
    internal BitsErrorReason(string code, BitsErrorKind kind, int statusCode, uint hResult, BitsErrorContext context = BitsErrorContext.RemoteFile)
    {
        Code = code;
        Kind = kind;
        StatusCode = statusCode;
        HResult = hResult;
        Context = context;
    }

    public string Code { get; }

    public BitsErrorKind Kind { get; }

    public int StatusCode { get; }

    public uint HResult { get; }

    public BitsErrorContext Context { get; }

    /// <summary>This reason as an error, with a message for the log line (never sent).</summary>
    public BitsError Error(string message) => new(this, StatusCode, HResult, Context, message);

    /// <summary>This reason with wire values the server application chose (rule 6a.5); only <see cref="BitsErrors.BackEndFailed"/>.</summary>
    internal BitsError Error(int statusCode, uint hResult, string message) => new(this, statusCode, hResult, Context, message);

    public override string ToString() => Code;
}

/// <summary>A protocol error as a value: its reason, HTTP status, HRESULT and context, plus a message for logs.</summary>
public sealed record BitsError
{
    internal BitsError(BitsErrorReason reason, int statusCode, uint hResult, BitsErrorContext context, string message)
    {
        Reason = reason;
        StatusCode = statusCode;
        HResult = hResult;
        Context = context;
        Message = message;
    }

    public BitsErrorReason Reason { get; }

    /// <summary>The reason's stable code, e.g. <c>fragment.length-mismatch</c>.</summary>
    public string Code => Reason.Code;

    public BitsErrorKind Kind => Reason.Kind;

    public int StatusCode { get; }

    public uint HResult { get; }

    public BitsErrorContext Context { get; }

    public string Message { get; }
}

/// <summary>
/// The catalogue: every reason the server answers an error Ack for, with its wire values. Codes are stable (tests, logs
/// and dashboards use them); wire values follow docs/protocol-compliance.md. A test checks that every code is unique and
/// every entry is used.
/// </summary>
public static class BitsErrors
{
    // Any packet.
    public static readonly BitsErrorReason MethodNotAllowed = new("request.method-not-allowed", BitsErrorKind.MethodNotAllowed, 405, BitsHResults.HttpError(405));
    public static readonly BitsErrorReason HeaderTooLong = InvalidArgument("request.header-too-long");
    public static readonly BitsErrorReason PacketTypeUnknown = InvalidArgument("request.packet-type-unknown");
    public static readonly BitsErrorReason ContentNameBidi = InvalidArgument("request.content-name-bidi");
    public static readonly BitsErrorReason ContentLengthMissing = InvalidArgument("request.content-length-missing");
    public static readonly BitsErrorReason ContentLengthNotZero = InvalidArgument("request.content-length-not-zero");
    public static readonly BitsErrorReason InvalidPath = InvalidArgument("request.invalid-path");

    /// <summary>Issue 12, point 11: a target that reaches the route only after decoding or normalisation.</summary>
    public static readonly BitsErrorReason OutsideRoute = InvalidArgument("request.outside-route");
    public static readonly BitsErrorReason UploadsDisabled = new("area.uploads-disabled", BitsErrorKind.UploadsDisabled, 501, BitsHResults.E_ACCESSDENIED);

    // Create-Session.
    public static readonly BitsErrorReason ProtocolNotOffered = InvalidArgument("create.protocol-not-offered");

    /// <summary>409: the user holds too many open sessions; Windows treats 409 as transient and retries later.</summary>
    public static readonly BitsErrorReason SessionLimitReached = new("create.session-limit", BitsErrorKind.SessionLimitReached, 409, BitsHResults.HttpError(409));
    public static readonly BitsErrorReason DestinationExists = new("create.destination-exists", BitsErrorKind.DestinationExists, 403, BitsHResults.E_ACCESSDENIED);

    // Finding the session (Fragment, Close-Session, Cancel-Session): 500 + BG_E_SESSION_NOT_FOUND makes the client start again.
    public static readonly BitsErrorReason SessionIdMissing = InvalidArgument("session.id-missing");
    public static readonly BitsErrorReason SessionNotFound = SessionGoneFor("session.not-found");
    public static readonly BitsErrorReason SessionClosed = SessionGoneFor("session.closed");
    public static readonly BitsErrorReason SessionCancelled = SessionGoneFor("session.cancelled");
    public static readonly BitsErrorReason SessionDiscarded = SessionGoneFor("session.discarded");
    public static readonly BitsErrorReason SessionOverwritten = SessionGoneFor("session.overwritten");
    public static readonly BitsErrorReason SessionIdle = SessionGoneFor("session.idle-expired");

    /// <summary>The store found the session's staged data gone (<see cref="BitsSessionGoneException"/>).</summary>
    public static readonly BitsErrorReason StagedDataGone = SessionGoneFor("session.staged-data-gone");

    // Fragment.
    public static readonly BitsErrorReason ContentEncoding = InvalidArgument("fragment.content-encoding");
    public static readonly BitsErrorReason RangeInvalid = InvalidArgument("fragment.range-invalid");
    public static readonly BitsErrorReason LengthMismatch = InvalidArgument("fragment.length-mismatch");
    public static readonly BitsErrorReason TotalMismatch = InvalidArgument("fragment.total-mismatch");

    /// <summary>413: makes the Windows client retry with smaller fragments.</summary>
    public static readonly BitsErrorReason FragmentTooLarge = new("fragment.too-large", BitsErrorKind.FragmentTooLarge, 413, BitsHResults.HttpError(413));
    public static readonly BitsErrorReason UploadTooLarge = new("fragment.upload-too-large", BitsErrorKind.TooLarge, 500, BitsHResults.BG_E_TOO_LARGE);

    /// <summary>
    /// 503: a Fragment body that ended early or was cut for arriving too slowly. Transient (rule 6a.10): the client sends
    /// the range again; nothing of the body was stored.
    /// </summary>
    public static readonly BitsErrorReason BodyIncomplete = Transient("fragment.body-incomplete", BitsErrorKind.BodyIncomplete);

    /// <summary>503: the server is at its limit of fragment memory; the client retries (rule 6a.11).</summary>
    public static readonly BitsErrorReason FragmentMemoryFull = Transient("fragment.memory-full", BitsErrorKind.ServerBusy);

    // Close-Session.
    public static readonly BitsErrorReason CloseIncomplete = InvalidArgument("close.incomplete");
    public static readonly BitsErrorReason CloseBeforeBackEnd = InvalidArgument("close.before-back-end");
    public static readonly BitsErrorReason CloseDestinationExists = new("close.destination-exists", BitsErrorKind.DestinationExists, 403, BitsHResults.E_ACCESSDENIED);

    /// <summary>503: the <c>BITS-Copy-File-To-Destination</c> copy is still running; the client retries (rule 6a.11).</summary>
    public static readonly BitsErrorReason CopyRunning = Transient("close.copy-running", BitsErrorKind.ServerBusy);

    // Upload-reply.
    public static readonly BitsErrorReason ReplyUrlTooLong = InvalidArgument("reply.url-too-long");
    public static readonly BitsErrorReason ReplyUnavailable = new("reply.unavailable", BitsErrorKind.InternalError, 500, BitsHResults.E_FAIL);

    /// <summary>
    /// Rule 6a.5: the server application failed, context 0x7. Sent with the back-end's status and BG_E_HTTP_ERROR_status
    /// (<see cref="BitsNotifier"/>); the values here are those of a back-end that gave no status.
    /// </summary>
    public static readonly BitsErrorReason BackEndFailed = new("back-end.failed", BitsErrorKind.BackEndFailed, 500, BitsHResults.HttpError(500), BitsErrorContext.RemoteApplication);

    // Authentication and client protection (the ASP.NET Core adapter).
    public static readonly BitsErrorReason Unauthenticated = new("auth.required", BitsErrorKind.Unauthenticated, 401, BitsHResults.E_ACCESSDENIED);
    public static readonly BitsErrorReason AuthRefused = new("auth.refused", BitsErrorKind.AccessDenied, 403, BitsHResults.E_ACCESSDENIED);
    public static readonly BitsErrorReason AreaForbidden = new("auth.area-forbidden", BitsErrorKind.AccessDenied, 403, BitsHResults.E_ACCESSDENIED);

    /// <summary>503: the token issuer's signing keys are unreachable for now; the client retries (rule 6a.11).</summary>
    public static readonly BitsErrorReason SigningKeysUnavailable = Transient("auth.signing-keys-unavailable", BitsErrorKind.DependencyUnavailable);

    /// <summary>503 with Retry-After: too many failed Basic sign-ins from one address.</summary>
    public static readonly BitsErrorReason SignInThrottled = Transient("auth.sign-in-throttled", BitsErrorKind.ServerBusy);

    /// <summary>503 with Retry-After: too many anonymous Create-Sessions from one address.</summary>
    public static readonly BitsErrorReason AnonymousThrottled = Transient("auth.anonymous-throttled", BitsErrorKind.ServerBusy);

    // Server faults.

    /// <summary>A transient storage failure (<see cref="BitsStoreUnavailableException"/>): the client retries (rule 6a.11).</summary>
    public static readonly BitsErrorReason StorageUnavailable = Transient("storage.unavailable", BitsErrorKind.StorageUnavailable);

    /// <summary>
    /// The destination blob holds as many uncommitted blocks as storage allows (other sessions staging on it): transient,
    /// the client retries until they commit or expire (<see cref="BitsStoreUnavailableException.Reason"/>).
    /// </summary>
    public static readonly BitsErrorReason BlockLimit = Transient("storage.block-limit", BitsErrorKind.StorageUnavailable);
    public static readonly BitsErrorReason InternalError = new("server.internal-error", BitsErrorKind.InternalError, 500, BitsHResults.E_FAIL);

    private static BitsErrorReason InvalidArgument(string code) =>
        new(code, BitsErrorKind.InvalidArgument, 400, BitsHResults.E_INVALIDARG);

    private static BitsErrorReason SessionGoneFor(string code) =>
        new(code, BitsErrorKind.SessionNotFound, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);

    /// <summary>503 + BG_E_HTTP_ERROR_503, what the client itself derives from a bare 503: it retries (rule 6a.11).</summary>
    private static BitsErrorReason Transient(string code, BitsErrorKind kind) =>
        new(code, kind, 503, BitsHResults.BG_E_HTTP_ERROR_503);
}
