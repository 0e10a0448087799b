using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bits.Client;

namespace Bits.Cli;

/// <summary>
/// What a command prints: human lines on standard output (none with <c>--quiet</c> or <c>--json</c>), errors and
/// warnings on standard error, and with <c>--json</c> one JSON object on standard output at the end.
/// </summary>
public sealed class Output(TextWriter stdout, TextWriter stderr, bool quiet, bool json, Connection? connection)
{
    public bool Quiet { get; } = quiet;

    public bool Json { get; } = json;

    /// <summary>True when a live progress bar may be drawn: standard output is a terminal and nothing asked for silence.</summary>
    public bool Interactive => !Quiet && !Json && !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out);

    public JsonObject Result { get; } = [];

    public void Info(string line)
    {
        if (!Quiet && !Json)
        {
            stdout.WriteLine(Redact(line));
        }
    }

    public void Warn(string line)
    {
        if (!Quiet)
        {
            stderr.WriteLine("bits: " + Redact(line));
        }
    }

    public void Error(string line) => stderr.WriteLine("bits: " + Redact(line));

    public string Redact(string text) => connection?.Redact(text) ?? text;

    public string Redact(Uri url) => Redact(url.AbsoluteUri);

    /// <summary>Prints the JSON result (with <c>--json</c>) and returns <paramref name="exitCode"/>.</summary>
    public int Finish(int exitCode)
    {
        if (Json)
        {
            Result["exitCode"] = exitCode;
            Result["ok"] = exitCode == ExitCodes.Ok;
            var text = Result.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
            stdout.WriteLine(Redact(text));
        }

        stdout.Flush();
        stderr.Flush();
        return exitCode;
    }

    /// <summary>
    /// Reports a failure in words (stderr, and the JSON result's <c>error</c>) and returns its exit code: what failed,
    /// the BITS error's name and sentence, and a hint about what to do.
    /// </summary>
    public int Fail(Exception exception, bool cancelled, string? context = null)
    {
        var (code, message, hint) = Describe(exception, cancelled);
        if (context is not null)
        {
            message = context + ": " + message;
        }

        Error(message);
        if (hint is not null)
        {
            Error("hint: " + hint);
        }

        var error = new JsonObject { ["message"] = Redact(message) };
        if (hint is not null)
        {
            error["hint"] = Redact(hint);
        }

        if (exception is BitsUploadException bits)
        {
            if (bits.StatusCode is { } status)
            {
                error["httpStatus"] = status;
            }

            if (bits.ErrorCode is { } errorCode)
            {
                error["errorCode"] = BitsErrorCodes.Format(errorCode);
                error["errorName"] = BitsErrorCodes.Name(errorCode);
            }

            if (bits.ErrorContext is { } errorContext)
            {
                error["errorContext"] = errorContext;
            }

            if (bits.PacketType is { } packet)
            {
                error["packet"] = packet;
            }
        }

        Result["error"] = error;
        return code;
    }

    /// <summary>The exit code, the message and a hint for a failure.</summary>
    public static (int ExitCode, string Message, string? Hint) Describe(Exception exception, bool cancelled)
    {
        if (cancelled && exception is OperationCanceledException)
        {
            return (ExitCodes.Cancelled, "cancelled.", null);
        }

        switch (exception)
        {
            case UsageException usage:
                return (ExitCodes.Usage, usage.Message, null);
            case BitsUploadException { ErrorCode: BitsErrorCodes.BG_E_LOCAL_FILE_CHANGED } changed:
                return (ExitCodes.SourceChanged, changed.Message, "run the command again to upload the file as it is now.");
            case BitsUploadException { RetriesExhausted: true } transient:
                return (ExitCodes.TransientFailures, transient.Message, TransientHint(transient));
            case BitsUploadException refused:
                return (ExitCodes.ServerRefused, refused.Message, RefusalHint(refused));
            case HttpRequestException or TimeoutException or OperationCanceledException:
                return (ExitCodes.TransientFailures, $"the server could not be reached: {exception.Message}", "check the URL and the network, then try again.");
            case IOException or UnauthorizedAccessException:
                return (ExitCodes.LocalError, exception.Message, null);
            default:
                return (ExitCodes.LocalError, $"{exception.GetType().Name}: {exception.Message}", null);
        }
    }

    private static string? TransientHint(BitsUploadException e)
    {
        if (e.ErrorContext == 7)
        {
            return "the server's upload-reply back-end failed; run the command again later (the server notifies the back-end again).";
        }

        return e.StatusCode is null
            ? "the server could not be reached; check the URL and the network. Running the same command again resumes the upload."
            : "the server kept failing; running the same command again later resumes the upload.";
    }

    private static string? RefusalHint(BitsUploadException e)
    {
        var status = e.StatusCode;
        var code = e.ErrorCode;
        if (status == 401)
        {
            return "the server wants credentials: pass --user with --password-stdin (or BITS_PASSWORD), or a key with --header \"x-functions-key: <key>\"; if you did, they were not accepted.";
        }

        if (status == 403 && code == BitsErrorCodes.E_ACCESSDENIED && e.PacketType == "Create-Session")
        {
            return "the destination probably already exists (the server does not overwrite files unless it is configured to), or you may not upload here; pick another name.";
        }

        if (status == 403)
        {
            return "access is denied: you are not allowed to upload here, or Basic credentials were sent over plain HTTP to a server that requires HTTPS.";
        }

        if (status == 501 && code == BitsErrorCodes.E_ACCESSDENIED)
        {
            return "uploads are not enabled at this URL.";
        }

        if (status == 404 && e.Ack is { IsAckPacket: false })
        {
            return "this URL is not a BITS upload endpoint (uploads live under /uploads/ on this server).";
        }

        if (status == 405)
        {
            return "the server or a proxy refused the BITS_POST verb.";
        }

        if (code == BitsErrorCodes.BG_E_TOO_LARGE)
        {
            return "the file is larger than the server accepts.";
        }

        if (status == 413)
        {
            return "the server refuses even the smallest fragment; lower --min-fragment.";
        }

        if (code == BitsErrorCodes.BG_E_SESSION_NOT_FOUND)
        {
            return "the server no longer knows the upload session (it was closed, cancelled or expired).";
        }

        if (code == BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE)
        {
            return "the answer was not a BITS Ack: is this URL a BITS upload endpoint?";
        }

        if (e.ErrorContext == 7)
        {
            return "the server's upload-reply back-end refused the upload.";
        }

        return null;
    }

    public static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture);
}
