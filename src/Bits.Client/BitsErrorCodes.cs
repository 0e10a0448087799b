using System.Globalization;

namespace Bits.Client;

/// <summary>Names and plain-language descriptions of the HRESULTs a BITS upload can end with.</summary>
public static class BitsErrorCodes
{
    public const uint S_OK = 0;
    public const uint E_FAIL = 0x80004005;
    public const uint E_NOTIMPL = 0x80004001;
    public const uint E_UNEXPECTED = 0x8000FFFF;
    public const uint E_ACCESSDENIED = 0x80070005;
    public const uint E_OUTOFMEMORY = 0x8007000E;
    public const uint E_INVALIDARG = 0x80070057;
    public const uint ERROR_DISK_FULL = 0x80070070;
    public const uint BG_E_INVALID_SERVER_RESPONSE = 0x8020001B;
    public const uint BG_E_LOCAL_FILE_CHANGED = 0x8020001D;
    public const uint BG_E_SESSION_NOT_FOUND = 0x8020001F;
    public const uint BG_E_TOO_LARGE = 0x80200020;
    public const uint BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH = 0x80200022;
    public const uint BG_E_NO_PROGRESS = 0x80200024;
    public const uint BG_E_HTTP_ERROR_BASE = 0x80190000;

    private static readonly Dictionary<uint, (string Name, string Sentence)> Known = new()
    {
        [S_OK] = ("S_OK", "No error."),
        [E_FAIL] = ("E_FAIL", "The server failed with an unspecified error."),
        [E_NOTIMPL] = ("E_NOTIMPL", "The server does not implement the requested operation."),
        [E_UNEXPECTED] = ("E_UNEXPECTED", "The server hit an unexpected failure."),
        [E_ACCESSDENIED] = ("E_ACCESSDENIED", "Access is denied: the caller may not upload here, uploads are not enabled for this URL, or the destination exists and may not be overwritten."),
        [E_OUTOFMEMORY] = ("E_OUTOFMEMORY", "The server ran out of memory."),
        [E_INVALIDARG] = ("E_INVALIDARG", "The server rejected the request as invalid (bad header, bad Content-Range, changed total length, unusable destination name or no common protocol)."),
        [ERROR_DISK_FULL] = ("ERROR_DISK_FULL", "The server is out of storage space."),
        [0x80070112] = ("ERROR_DISK_FULL", "The server is out of storage space (value as printed in MC-BUP)."),
        [0x80200001] = ("BG_E_NOT_FOUND", "The requested item was not found."),
        [0x80200002] = ("BG_E_INVALID_STATE", "The requested action is not allowed in the current job state."),
        [0x80200003] = ("BG_E_EMPTY", "There are no files attached to this job."),
        [0x80200004] = ("BG_E_FILE_NOT_AVAILABLE", "No file is available because no URL generated an error."),
        [0x80200005] = ("BG_E_PROTOCOL_NOT_AVAILABLE", "No protocol is available because no URL generated an error."),
        [0x8020000D] = ("BG_E_DESTINATION_LOCKED", "The destination file is locked by another process."),
        [0x8020000E] = ("BG_E_VOLUME_CHANGED", "The destination volume has changed."),
        [0x8020000F] = ("BG_E_ERROR_INFORMATION_UNAVAILABLE", "No error information is available."),
        [0x80200010] = ("BG_E_NETWORK_DISCONNECTED", "No network connection is active."),
        [0x80200011] = ("BG_E_MISSING_FILE_SIZE", "The server did not return the file size (no Content-Length)."),
        [0x80200012] = ("BG_E_INSUFFICIENT_HTTP_SUPPORT", "The server does not support HTTP/1.1."),
        [0x80200013] = ("BG_E_INSUFFICIENT_RANGE_SUPPORT", "The server does not support the required HTTP range requests."),
        [0x80200014] = ("BG_E_REMOTE_NOT_SUPPORTED", "Remote use of BITS is not supported."),
        [0x80200015] = ("BG_E_NEW_OWNER_DIFF_MAPPING", "The drive mapping differs for the new job owner."),
        [0x80200016] = ("BG_E_NEW_OWNER_NO_FILE_ACCESS", "The new job owner cannot access a local file."),
        [0x80200018] = ("BG_E_PROXY_LIST_TOO_LARGE", "The proxy list is too long."),
        [0x80200019] = ("BG_E_PROXY_BYPASS_LIST_TOO_LARGE", "The proxy bypass list is too long."),
        [BG_E_INVALID_SERVER_RESPONSE] = ("BG_E_INVALID_SERVER_RESPONSE", "The server's response was not a valid BITS Ack (missing or malformed BITS headers)."),
        [0x8020001C] = ("BG_E_TOO_MANY_FILES", "An upload job may carry only one file."),
        [BG_E_LOCAL_FILE_CHANGED] = ("BG_E_LOCAL_FILE_CHANGED", "The local source changed while it was being uploaded."),
        [0x8020001E] = ("BG_E_ERROR_CONTEXT_REMOTE_APPLICATION", "The error was reported by the server application."),
        [BG_E_SESSION_NOT_FOUND] = ("BG_E_SESSION_NOT_FOUND", "The server does not know the upload session (it expired, was closed or cancelled, or belongs to someone else)."),
        [BG_E_TOO_LARGE] = ("BG_E_TOO_LARGE", "The upload is larger than the server accepts."),
        [0x80200021] = ("BG_E_STRING_TOO_LONG", "A string value is too long."),
        [BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH] = ("BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH", "Client and server share no BITS upload protocol."),
        [0x80200023] = ("BG_E_SERVER_EXECUTE_ENABLE", "The server refuses uploads into a folder with script or execute permission."),
        [BG_E_NO_PROGRESS] = ("BG_E_NO_PROGRESS", "The upload made no progress: the server keeps acknowledging without accepting new bytes."),
        [0x80200025] = ("BG_E_USERNAME_TOO_LARGE", "The user name is too long."),
        [0x80200026] = ("BG_E_PASSWORD_TOO_LARGE", "The password is too long."),
        [0x80200027] = ("BG_E_INVALID_AUTH_TARGET", "The authentication target is invalid."),
        [0x80200028] = ("BG_E_INVALID_AUTH_SCHEME", "The authentication scheme is invalid."),
        [0x80200029] = ("BG_E_FILE_NOT_FOUND", "The file was not found."),
    };

    /// <summary>BG_E_HTTP_ERROR_nnn: the code the Windows client reports for a raw HTTP status.</summary>
    public static uint HttpError(int statusCode) => BG_E_HTTP_ERROR_BASE + (uint)statusCode;

    /// <summary>"0x" + eight upper-case hex digits.</summary>
    public static string Format(uint hresult) => "0x" + hresult.ToString("X8", CultureInfo.InvariantCulture);

    /// <summary>The symbolic name (e.g. "BG_E_SESSION_NOT_FOUND", "BG_E_HTTP_ERROR_503"), or null when unknown.</summary>
    public static string? Name(uint hresult)
    {
        if (Known.TryGetValue(hresult, out var entry))
        {
            return entry.Name;
        }

        if (TryGetHttpStatus(hresult, out var status))
        {
            return string.Create(CultureInfo.InvariantCulture, $"BG_E_HTTP_ERROR_{status}");
        }

        return null;
    }

    /// <summary>A human sentence for the code, always including its name (when known) and hex value.</summary>
    public static string Describe(uint hresult)
    {
        var hex = Format(hresult);
        if (Known.TryGetValue(hresult, out var entry))
        {
            return $"{entry.Name} ({hex}): {entry.Sentence}";
        }

        if (TryGetHttpStatus(hresult, out var status))
        {
            var reason = HttpReason(status);
            return string.Create(
                CultureInfo.InvariantCulture,
                $"BG_E_HTTP_ERROR_{status} ({hex}): the server answered HTTP {status}{(reason is null ? string.Empty : " " + reason)}.");
        }

        if ((hresult & 0xFFFF0000) == 0x80070000)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{hex}: Windows error {hresult & 0xFFFF} reported by the server.");
        }

        return (hresult & 0x80000000) != 0
            ? $"{hex}: an unknown error code."
            : $"{hex}: a success or informational code.";
    }

    /// <summary>True when the code is BG_E_HTTP_ERROR_nnn with nnn in 100..599.</summary>
    public static bool TryGetHttpStatus(uint hresult, out int statusCode)
    {
        statusCode = 0;
        if (hresult < BG_E_HTTP_ERROR_BASE + 100 || hresult > BG_E_HTTP_ERROR_BASE + 599)
        {
            return false;
        }

        statusCode = (int)(hresult - BG_E_HTTP_ERROR_BASE);
        return true;
    }

    internal static string? HttpReason(int status) => status switch
    {
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => null,
    };
}
