using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Bits.Client;
using Spectre.Console;

namespace Bits.Cli;

/// <summary>What <c>bits upload</c> was asked to do.</summary>
public sealed record UploadRequest(
    string File,
    Uri Url,
    string? StatePath,
    long? MinFragmentBytes,
    long? MaxFragmentBytes,
    long? FragmentBytes,
    int Retries,
    TimeSpan RetryDelay,
    string? ReplyPath);

/// <summary>
/// <c>bits upload &lt;file&gt; &lt;url&gt;</c>: one BITS upload job. The session is recorded in a state file as soon as it
/// exists, so an interrupted run (network, Ctrl+C) is resumed by running the same command again; the state file is
/// deleted when the upload completes. With <c>--reply</c> the upload-reply is downloaded before Close-Session.
/// </summary>
public static class UploadCommand
{
    public static async Task<int> RunAsync(UploadRequest request, Connection connection, Output output, CancellationToken ct)
    {
        var file = Path.GetFullPath(request.File);
        if (!File.Exists(file))
        {
            throw new UsageException(Directory.Exists(file) ? $"{file} is a folder; BITS uploads one file." : $"the file {file} does not exist.");
        }

        if (request.ReplyPath is { } replyTarget && Path.GetDirectoryName(Path.GetFullPath(replyTarget)) is { } replyFolder && !Directory.Exists(replyFolder))
        {
            throw new UsageException($"--reply: the folder {replyFolder} does not exist.");
        }

        var options = connection.CreateOptions();
        ApplyFragmentSizes(options, request);
        options.MaxTransientRetries = request.Retries;
        options.RetryDelay = request.RetryDelay;
        var url = request.Url;
        if (url.Scheme == Uri.UriSchemeHttp && connection.HasAuthorization && !url.IsLoopback)
        {
            output.Warn("credentials are sent over plain HTTP; use an https:// URL.");
        }

        SourceFingerprint fingerprint;
        try
        {
            fingerprint = SourceFingerprint.Of(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {file}: {ex.Message}");
        }

        // The state file: --state, else next to the file (or, where that folder is read-only, in the current folder).
        var (beside, inCurrentFolder) = UploadState.DefaultPaths(file);
        var statePath = request.StatePath is { } explicitPath
            ? Path.GetFullPath(explicitPath)
            : File.Exists(beside) || !File.Exists(inCurrentFolder) ? beside : inCurrentFolder;
        var stateFallback = request.StatePath is null && statePath == beside ? inCurrentFolder : null;

        UploadState? state = null;
        try
        {
            state = UploadState.Load(statePath);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            output.Warn($"ignoring the state file: {ex.Message}");
        }

        using var http = CreateHttpClient(allowRedirects: false);
        var client = new BitsUploadClient(http, options);
        string? resumeSessionId = null;
        if (state is not null)
        {
            if (!string.Equals(state.Url, url.AbsoluteUri, StringComparison.Ordinal))
            {
                output.Warn($"the state file {statePath} belongs to an upload to {state.Url}; starting a new upload (that session is left to expire on its server).");
                state = null;
            }
            else if (!state.Matches(fingerprint))
            {
                output.Info($"{Path.GetFileName(file)} changed since the interrupted upload; cancelling session {state.SessionId} and starting over.");
                await TryCancelAsync(client, url, state.SessionId, ct);
                state = null;
            }
            else
            {
                resumeSessionId = state.SessionId;
            }
        }

        string? sessionId = resumeSessionId;
        long acknowledged = 0;
        options.SessionCreated = (id, _) =>
        {
            sessionId = id;
            var now = DateTimeOffset.UtcNow;
            state = UploadState.Create(url, id, file, fingerprint, now);
            statePath = SaveState(state, statePath, ref stateFallback, output);
            return Task.CompletedTask;
        };

        JsonObject? replyResult = null;
        options.BeforeClose = async (context, token) =>
        {
            // Every byte is in: make sure they are the bytes of the file we fingerprinted before publishing them.
            if (!SourceFingerprint.Of(file).Equals(fingerprint))
            {
                throw new BitsUploadException(
                    $"{file} changed during the upload (its size, time or content differ from when the upload started); the session is not closed. {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_LOCAL_FILE_CHANGED)}",
                    null,
                    BitsErrorCodes.BG_E_LOCAL_FILE_CHANGED,
                    null)
                { SessionId = context.SessionId, BytesAcknowledged = context.Bytes };
            }

            if (request.ReplyPath is { } replyPath)
            {
                replyResult = await DownloadReplyAsync(context, replyPath, connection, options, output, token);
            }
        };

        output.Result["command"] = "upload";
        output.Result["file"] = file;
        output.Result["url"] = url.AbsoluteUri;
        output.Result["bytes"] = fingerprint.Size;
        output.Result["stateFile"] = statePath;
        output.Info(resumeSessionId is null
            ? $"Uploading {Path.GetFileName(file)} ({ByteSize.Format(fingerprint.Size)}) to {output.Redact(url)}"
            : $"Resuming session {resumeSessionId} of {Path.GetFileName(file)} ({ByteSize.Format(fingerprint.Size)}) to {output.Redact(url)} (state: {statePath})");

        var stopwatch = Stopwatch.StartNew();
        BitsUploadResult result;
        try
        {
            await using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.RandomAccess);
            var contentName = Path.GetFileName(file);
            if (output.Interactive)
            {
                result = await AnsiConsole.Progress()
                    .AutoClear(false)
                    .HideCompleted(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                    .StartAsync(async context =>
                    {
                        var task = context.AddTask(Markup.Escape(contentName), maxValue: Math.Max(1, fingerprint.Size));
                        var progress = new SyncProgress(offset =>
                        {
                            acknowledged = offset;
                            task.Value = fingerprint.Size == 0 ? 1 : offset;
                        });
                        var done = await RunUploadAsync(client, url, resumeSessionId, source, contentName, progress, ct);
                        task.Value = task.MaxValue;
                        return done;
                    });
            }
            else
            {
                var nextStep = 10;
                var progress = new SyncProgress(offset =>
                {
                    acknowledged = offset;
                    if (fingerprint.Size == 0)
                    {
                        return;
                    }

                    var percent = (int)(offset * 100 / fingerprint.Size);
                    if (percent >= nextStep && offset < fingerprint.Size)
                    {
                        output.Info(string.Create(CultureInfo.InvariantCulture, $"  {percent,3}%  {ByteSize.Format(offset)} of {ByteSize.Format(fingerprint.Size)}"));
                        nextStep = (percent / 10 * 10) + 10;
                    }
                });
                result = await RunUploadAsync(client, url, resumeSessionId, source, contentName, progress, ct);
            }
        }
        catch (Exception ex)
        {
            var cancelled = ct.IsCancellationRequested;
            var exitCode = output.Fail(ex, cancelled, "upload failed");
            if (exitCode == ExitCodes.SourceChanged)
            {
                if (sessionId is not null)
                {
                    await TryCancelAsync(client, url, sessionId, CancellationToken.None);
                }

                TryDelete(statePath);
                output.Result["stateFile"] = null;
            }
            else if (sessionId is not null && state is not null && File.Exists(statePath))
            {
                try
                {
                    state = state with { SessionId = sessionId, BytesAcknowledged = acknowledged, UpdatedAt = DateTimeOffset.UtcNow };
                    state.Save(statePath);
                }
                catch (Exception saveError) when (saveError is IOException or UnauthorizedAccessException)
                {
                    output.Warn($"could not update the state file: {saveError.Message}");
                }

                output.Result["sessionId"] = sessionId;
                output.Result["bytesAcknowledged"] = acknowledged;
                if (exitCode is ExitCodes.Cancelled or ExitCodes.TransientFailures or ExitCodes.LocalError)
                {
                    output.Error($"session {sessionId} is kept in {statePath}: run the same command again to resume.");
                }
                else
                {
                    output.Error($"session {sessionId} is kept in {statePath}; discard it with: bits cancel --state \"{statePath}\"");
                }
            }
            else
            {
                output.Result["stateFile"] = null;
            }

            return output.Finish(exitCode);
        }

        stopwatch.Stop();
        TryDelete(statePath);
        output.Result["stateFile"] = null;
        output.Result["sessionId"] = result.SessionId;
        output.Result["resumed"] = resumeSessionId is not null;
        output.Result["fragments"] = result.FragmentsSent;
        output.Result["retransmits"] = result.Retransmits;
        output.Result["sessionRestarts"] = result.SessionRestarts;
        output.Result["transientRetries"] = result.TransientRetries;
        output.Result["seconds"] = Math.Round(stopwatch.Elapsed.TotalSeconds, 3);
        if (result.ReplyUrl is not null)
        {
            output.Result["replyUrl"] = result.ReplyUrl;
        }

        if (request.ReplyPath is not null)
        {
            output.Result["reply"] = replyResult;
        }

        var rate = stopwatch.Elapsed.TotalSeconds > 0 ? ByteSize.Format((long)(result.Bytes / stopwatch.Elapsed.TotalSeconds)) + "/s" : "-";
        output.Info(string.Create(
            CultureInfo.InvariantCulture,
            $"Uploaded {ByteSize.Format(result.Bytes)} in {result.FragmentsSent} fragment{(result.FragmentsSent == 1 ? string.Empty : "s")} ({Output.Seconds(stopwatch.Elapsed)} s, {rate}); session {result.SessionId} closed."));
        if (result.SessionRestarts > 0 || result.TransientRetries > 0)
        {
            output.Info(string.Create(CultureInfo.InvariantCulture, $"  {result.TransientRetries} transient retries, {result.SessionRestarts} session restarts, {result.Retransmits} resyncs."));
        }

        if (replyResult is not null)
        {
            output.Info($"Reply: {replyResult["bytes"]} bytes written to {replyResult["path"]}");
        }

        return output.Finish(ExitCodes.Ok);
    }

    private static Task<BitsUploadResult> RunUploadAsync(BitsUploadClient client, Uri url, string? resumeSessionId, Stream source, string contentName, IProgress<long> progress, CancellationToken ct)
        => resumeSessionId is null
            ? client.UploadAsync(url, source, contentName, progress, ct)
            : client.ResumeAsync(url, resumeSessionId, source, contentName, progress, ct);

    private static void ApplyFragmentSizes(BitsClientOptions options, UploadRequest request)
    {
        if (request.MinFragmentBytes is { } min)
        {
            options.MinFragmentBytes = min;
        }

        if (request.MaxFragmentBytes is { } max)
        {
            options.MaxFragmentBytes = max;
        }

        if (request.FragmentBytes is { } fragment)
        {
            options.InitialFragmentBytes = fragment;
            if (request.MaxFragmentBytes is null)
            {
                options.MaxFragmentBytes = Math.Max(options.MaxFragmentBytes, fragment);
            }

            if (request.MinFragmentBytes is null)
            {
                options.MinFragmentBytes = Math.Min(options.MinFragmentBytes, fragment);
            }
        }
        else if (request.MaxFragmentBytes is { } onlyMax)
        {
            options.InitialFragmentBytes = Math.Min(options.InitialFragmentBytes, onlyMax);
        }

        if (request.MinFragmentBytes is not null && request.MaxFragmentBytes is null)
        {
            options.MaxFragmentBytes = Math.Max(options.MaxFragmentBytes, options.MinFragmentBytes);
        }

        if (options.MinFragmentBytes > options.MaxFragmentBytes)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--min-fragment ({options.MinFragmentBytes} bytes) is larger than --max-fragment ({options.MaxFragmentBytes} bytes)."));
        }

        if (options.InitialFragmentBytes < options.MinFragmentBytes || options.InitialFragmentBytes > options.MaxFragmentBytes)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--fragment ({options.InitialFragmentBytes} bytes) must lie between --min-fragment ({options.MinFragmentBytes}) and --max-fragment ({options.MaxFragmentBytes})."));
        }
    }

    private static string SaveState(UploadState state, string path, ref string? fallback, Output output)
    {
        try
        {
            state.Save(path);
            return path;
        }
        catch (Exception ex) when (fallback is not null && ex is IOException or UnauthorizedAccessException)
        {
            var other = fallback;
            fallback = null;
            output.Warn($"cannot write {path} ({ex.Message}); keeping the state in {other}.");
            state.Save(other);
            return other;
        }
    }

    private static async Task<JsonObject?> DownloadReplyAsync(BitsBeforeCloseContext context, string replyPath, Connection connection, BitsClientOptions uploadOptions, Output output, CancellationToken ct)
    {
        if (context.ReplyUrl is null)
        {
            output.Warn("the server sent no reply (BITS-Reply-URL): this URL is not an upload-reply endpoint; --reply was not written.");
            return null;
        }

        // IIS sends a path relative to the upload URL's folder, with backslashes; this server an absolute URL.
        if (!Uri.TryCreate(context.ReplyUrl, UriKind.Absolute, out var replyUrl) || replyUrl.Scheme is not ("http" or "https"))
        {
            replyUrl = new Uri(context.Url, context.ReplyUrl.Replace('\\', '/'));
        }

        // Credentials and custom headers go only to the upload server itself, not to a reply hosted elsewhere.
        var sameOrigin = Uri.Compare(replyUrl, context.Url, UriComponents.SchemeAndServer, UriFormat.SafeUnescaped, StringComparison.OrdinalIgnoreCase) == 0;
        var options = connection.CreateOptions(withHeaders: sameOrigin);
        options.MaxTransientRetries = uploadOptions.MaxTransientRetries;
        options.RetryDelay = uploadOptions.RetryDelay;
        using var http = CreateHttpClient(allowRedirects: true);
        var client = new BitsUploadClient(http, options);
        var target = Path.GetFullPath(replyPath);
        var partial = target + ".partial";
        long bytes;
        await using (var destination = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            bytes = await client.DownloadReplyAsync(replyUrl, destination, ct);
        }

        File.Move(partial, target, overwrite: true);
        return new JsonObject { ["path"] = target, ["bytes"] = bytes, ["url"] = replyUrl.AbsoluteUri };
    }

    /// <summary>Best effort: tells the server to drop a session this client abandons (errors are ignored).</summary>
    internal static async Task TryCancelAsync(BitsUploadClient client, Uri url, string sessionId, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await client.CancelSessionAsync(url, sessionId, timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            // The session expires on the server by itself.
        }
    }

    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left behind: the next run sees that it does not match and starts over.
        }
    }

    /// <summary>An HttpClient for BITS packets: HTTP/1.1, no automatic redirects (the client classifies 3xx), 5-minute answers.</summary>
    internal static HttpClient CreateHttpClient(bool allowRedirects) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = allowRedirects,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        UseCookies = false,
    })
    {
        // The server may take up to 5 minutes to answer the final fragment (upload-reply back-ends).
        Timeout = TimeSpan.FromMinutes(5.5),
    };

    /// <summary>Reports progress on the calling thread (Progress&lt;T&gt; would post it elsewhere, out of order).</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
