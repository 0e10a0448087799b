using System.Diagnostics;
using System.Globalization;
using Bits.Client;

namespace Bits.Cli;

/// <summary><c>bits ping</c>, <c>bits cancel</c> and <c>bits status</c>.</summary>
public static class SessionCommands
{
    /// <summary>Sends <paramref name="count"/> Pings (one a second) and prints each Ack's status and round-trip time.</summary>
    public static async Task<int> PingAsync(Uri url, int count, Connection connection, Output output, CancellationToken ct)
    {
        using var http = UploadCommand.CreateHttpClient(allowRedirects: false);
        http.Timeout = TimeSpan.FromSeconds(60);
        var client = new BitsUploadClient(http, connection.CreateOptions());
        output.Result["command"] = "ping";
        output.Result["url"] = url.AbsoluteUri;
        var samples = new System.Text.Json.Nodes.JsonArray();
        output.Result["milliseconds"] = samples;
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
                catch (OperationCanceledException ex)
                {
                    return output.Finish(output.Fail(ex, cancelled: true));
                }
            }

            var stopwatch = Stopwatch.StartNew();
            BitsAck ack;
            try
            {
                ack = await client.PingAsync(url, ct);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or TimeoutException)
            {
                return output.Finish(output.Fail(ex, ct.IsCancellationRequested, "ping failed"));
            }

            var milliseconds = Math.Round(stopwatch.Elapsed.TotalMilliseconds, 1);
            output.Result["httpStatus"] = ack.StatusCode;
            output.Result["ack"] = ack.IsAckPacket;
            samples.Add(milliseconds);
            if (!ack.IsSuccess || !ack.IsAckPacket)
            {
                var failure = !ack.IsAckPacket && ack.IsSuccess
                    ? new BitsUploadException(
                        $"the server answered {ack} without 'BITS-Packet-Type: Ack'. {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE)}",
                        ack.StatusCode,
                        BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE,
                        null)
                    { PacketType = "Ping", Ack = ack }
                    : new BitsUploadException(
                        $"the server answered {ack}. {BitsErrorCodes.Describe(ack.EffectiveErrorCode)}",
                        ack.StatusCode,
                        ack.EffectiveErrorCode,
                        ack.ErrorContext)
                    { PacketType = "Ping", Ack = ack, RetriesExhausted = ack.IsTransientFailure };
                return output.Finish(output.Fail(failure, cancelled: false, string.Create(CultureInfo.InvariantCulture, $"ping failed after {milliseconds:0.0} ms")));
            }

            var first = i == 0 ? " (with connection set-up)" : string.Empty;
            output.Info(string.Create(CultureInfo.InvariantCulture, $"Ack from {output.Redact(url)}: HTTP {ack.StatusCode}{(ack.ReasonPhrase is { Length: > 0 } reason ? " " + reason : string.Empty)} in {milliseconds:0.0} ms{first}"));
        }

        return output.Finish(ExitCodes.Ok);
    }

    /// <summary>
    /// Sends Cancel-Session for <paramref name="sessionId"/> (or the session of a state file), retrying 5xx like the
    /// Windows client; the state file is deleted once the server no longer has the session.
    /// </summary>
    public static async Task<int> CancelAsync(Uri? url, string? sessionId, string? statePath, int retries, TimeSpan retryDelay, Connection connection, Output output, CancellationToken ct)
    {
        output.Result["command"] = "cancel";
        UploadState? state = null;
        if (statePath is not null)
        {
            statePath = Path.GetFullPath(statePath);
            state = LoadState(statePath) ?? throw new UsageException($"there is no state file {statePath}.");
            sessionId ??= state.SessionId;
            url ??= new Uri(state.Url);
        }

        if (url is null || sessionId is null)
        {
            throw new UsageException("cancel needs the upload URL and --session <id>, or --state <path> of an interrupted upload.");
        }

        connection.AddUrlSecrets(url);
        output.Result["url"] = url.AbsoluteUri;
        output.Result["sessionId"] = sessionId;
        using var http = UploadCommand.CreateHttpClient(allowRedirects: false);
        var client = new BitsUploadClient(http, connection.CreateOptions());
        for (var attempt = 0; ; attempt++)
        {
            Exception? failure;
            try
            {
                var ack = await client.CancelSessionAsync(url, sessionId, ct);
                if (ack.IsSuccess)
                {
                    output.Info($"Session {sessionId} cancelled at {output.Redact(url)}.");
                    ForgetState(state, statePath, sessionId, output);
                    return output.Finish(ExitCodes.Ok);
                }

                var gone = ack.ErrorCode == BitsErrorCodes.BG_E_SESSION_NOT_FOUND;
                failure = new BitsUploadException(
                    $"Cancel-Session was rejected: the server answered {ack}. {BitsErrorCodes.Describe(ack.EffectiveErrorCode)}",
                    ack.StatusCode,
                    ack.EffectiveErrorCode,
                    ack.ErrorContext)
                { PacketType = "Cancel-Session", Ack = ack, SessionId = sessionId, RetriesExhausted = ack.IsTransientFailure };
                if (gone)
                {
                    ForgetState(state, statePath, sessionId, output);
                }

                if (!ack.IsTransientFailure)
                {
                    return output.Finish(output.Fail(failure, cancelled: false, "cancel failed"));
                }
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
            {
                failure = ex;
            }
            catch (OperationCanceledException ex)
            {
                return output.Finish(output.Fail(ex, cancelled: true));
            }

            if (attempt >= retries)
            {
                return output.Finish(output.Fail(failure, cancelled: false, string.Create(CultureInfo.InvariantCulture, $"cancel failed {attempt + 1} times")));
            }

            try
            {
                await Task.Delay(retryDelay, ct);
            }
            catch (OperationCanceledException ex)
            {
                return output.Finish(output.Fail(ex, cancelled: true));
            }
        }
    }

    /// <summary>Prints the state file of an interrupted upload and whether the file still matches it.</summary>
    public static int Status(string? file, string? statePath, Output output)
    {
        output.Result["command"] = "status";
        if (statePath is null)
        {
            if (file is null)
            {
                throw new UsageException("status needs the file of an upload or --state <path>.");
            }

            var (beside, inCurrentFolder) = UploadState.DefaultPaths(file);
            statePath = File.Exists(beside) || !File.Exists(inCurrentFolder) ? beside : inCurrentFolder;
        }

        statePath = Path.GetFullPath(statePath);
        output.Result["stateFile"] = statePath;
        var state = LoadState(statePath);
        if (state is null)
        {
            output.Info($"No interrupted upload: there is no state file {statePath}.");
            output.Result["state"] = null;
            return output.Finish(ExitCodes.Ok);
        }

        var source = file is not null ? Path.GetFullPath(file) : state.File;
        string match;
        if (!File.Exists(source))
        {
            match = "missing";
        }
        else
        {
            try
            {
                match = state.Matches(SourceFingerprint.Of(source)) ? "unchanged" : "changed";
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                match = "unreadable";
            }
        }

        output.Result["state"] = new System.Text.Json.Nodes.JsonObject
        {
            ["url"] = state.Url,
            ["sessionId"] = state.SessionId,
            ["file"] = state.File,
            ["size"] = state.Size,
            ["bytesAcknowledged"] = state.BytesAcknowledged,
            ["createdAt"] = state.CreatedAt,
            ["updatedAt"] = state.UpdatedAt,
            ["source"] = match,
        };
        output.Info($"Interrupted upload of {state.File} ({ByteSize.Format(state.Size)})");
        output.Info($"  to       {output.Redact(state.Url)}");
        output.Info($"  session  {state.SessionId}");
        if (state.BytesAcknowledged is { } acknowledged)
        {
            output.Info(string.Create(CultureInfo.InvariantCulture, $"  sent     {ByteSize.Format(acknowledged)} acknowledged when it stopped ({state.UpdatedAt:u})"));
        }

        output.Info(match switch
        {
            "unchanged" => "  source   unchanged: `bits upload` with the same file and URL resumes it.",
            "changed" => "  source   changed since: `bits upload` starts over with a new session.",
            "missing" => "  source   missing.",
            _ => "  source   cannot be read.",
        });
        return output.Finish(ExitCodes.Ok);
    }

    private static UploadState? LoadState(string path)
    {
        try
        {
            return UploadState.Load(path);
        }
        catch (InvalidDataException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    private static void ForgetState(UploadState? state, string? statePath, string sessionId, Output output)
    {
        if (state is not null && statePath is not null && string.Equals(state.SessionId, sessionId, StringComparison.Ordinal))
        {
            UploadCommand.TryDelete(statePath);
            output.Info($"Removed the state file {statePath}.");
            output.Result["stateFileRemoved"] = true;
        }
    }
}
