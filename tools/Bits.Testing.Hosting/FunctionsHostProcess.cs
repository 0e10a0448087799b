using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Bits.Testing;

/// <summary>
/// The real Azure Functions host (the runtime behind <c>func start</c> and Azure) over the app's build output, as a
/// process on a free loopback port with keys known in advance. Supports the host build described in
/// <c>../shared/functions-host/README.md</c> (<c>start.sh APP_OUTPUT_DIR PORT</c>), found through
/// <see cref="DirectoryVariable"/>; <c>func start</c> does not enforce keys and is not supported.
/// </summary>
public sealed class FunctionsHostProcess : IAsyncDisposable
{
    /// <summary>The folder holding <c>start.sh</c>; relative paths are taken from the repository root.</summary>
    public const string DirectoryVariable = "BITS_FUNCTIONS_HOST_DIR";

    /// <summary>What a skipped test prints when <see cref="DirectoryVariable"/> is not set.</summary>
    public const string SkipReason = "Functions host not configured: set " + DirectoryVariable + "=../shared/functions-host (a build of the Azure Functions host with start.sh) to run these tests on it.";

    /// <summary>The line the host logs when it maps the upload trigger's route.</summary>
    public const string UploadRouteLogLine = "Mapped function route '/uploads/{*path}'";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    private readonly List<string> _log = [];
    private readonly string _secrets;
    private readonly Process _process;
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Seen)> _waiters = [];

    private FunctionsHostProcess(Process process, Uri root, string masterKey, string functionKey, string secrets)
    {
        _process = process;
        Root = root;
        MasterKey = masterKey;
        FunctionKey = functionKey;
        _secrets = secrets;
    }

    /// <summary>E.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Root { get; }

    /// <summary>The host's master key (admin endpoints).</summary>
    public string MasterKey { get; }

    /// <summary>A host-level function key: <c>x-functions-key</c> or <c>?code=</c> on every request to the trigger.</summary>
    public string FunctionKey { get; }

    public int ProcessId => _process.Id;

    /// <summary>The host folder from <see cref="DirectoryVariable"/>, or null when the variable is not set.</summary>
    public static string? ConfiguredDirectory()
    {
        var value = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        return Path.IsPathRooted(value) ? value : Path.GetFullPath(Path.Combine(RepositoryRoot.Find(), value));
    }

    /// <summary>Everything the host and its worker wrote to standard output and error so far.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    /// <summary>
    /// Starts the host from <paramref name="hostDirectory"/> over <paramref name="appDirectory"/> and waits until the
    /// upload trigger answers a keyed Ping. <paramref name="settings"/> are app settings in configuration form
    /// (<c>Bits:MaxFragmentBytes</c>); they reach host and worker as environment variables (<c>Bits__MaxFragmentBytes</c>),
    /// as in Azure. Throws with the reason and the host's output when it does not come up.
    /// </summary>
    /// <summary>
    /// <c>Bits:PublicBaseUrl</c> given this value is set to the host's own root URL once its port is chosen: behind the
    /// Functions host the worker sees every request arrive on its own loopback port, so URLs sent to back-ends must come
    /// from <c>Bits:PublicBaseUrl</c>, as in Azure.
    /// </summary>
    public const string HostRootPlaceholder = "{functions-host-root}";

    public static async Task<FunctionsHostProcess> StartAsync(string hostDirectory, string appDirectory, string storageConnectionString, IDictionary<string, string?> settings, CancellationToken cancellationToken = default)
    {
        var script = Path.Combine(hostDirectory, "start.sh");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException($"{DirectoryVariable}={hostDirectory}: no start.sh there (expected the Functions host build of ../shared/functions-host).");
        }

        if (!File.Exists(Path.Combine(appDirectory, "functions.metadata")))
        {
            throw new InvalidOperationException($"The Functions app is not built at {appDirectory} (no functions.metadata): build the solution first.");
        }

        var port = FreePort();
        var masterKey = NewKey();
        var functionKey = NewKey();
        var secrets = Directory.CreateTempSubdirectory("fnhost-secrets-").FullName;
        var logs = Path.Combine(secrets, "logs");
        Directory.CreateDirectory(logs);
        File.WriteAllText(Path.Combine(secrets, "host.json"), $$"""
            {"masterKey":{"name":"master","value":"{{masterKey}}","encrypted":false},"functionKeys":[{"name":"default","value":"{{functionKey}}","encrypted":false}],"systemKeys":[],"hostName":null,"instanceId":"0000000000000000000000000000650E","source":"runtime","decryptionKeyId":""}
            """);

        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = hostDirectory,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(appDirectory);
        start.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));

        // Only the settings given here: nothing of a developer's Bits__/BitsStorage__ environment leaks in.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("Bits", StringComparison.OrdinalIgnoreCase) && k.Contains("__", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["AzureWebJobsStorage"] = storageConnectionString;
        start.Environment["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated";
        start.Environment["FUNCTIONS_SECRETS_PATH"] = secrets;
        start.Environment["FUNCTIONS_LOG_PATH"] = logs;
        start.Environment["DOTNET_NOLOGO"] = "1";
        var root = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value == HostRootPlaceholder ? root.AbsoluteUri : value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var host = new FunctionsHostProcess(process, root, masterKey, functionKey, secrets);
        process.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => host.OnLine(e.Data);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.Exited += (_, _) => exited.TrySetResult();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(StartTimeout);
            var routeMapped = host.WaitForLineAsync(line => line.Contains(UploadRouteLogLine, StringComparison.Ordinal), timeout.Token);
            var done = await Task.WhenAny(routeMapped, exited.Task);
            if (done == exited.Task)
            {
                throw new InvalidOperationException($"the host exited with code {process.ExitCode} during start-up");
            }

            await routeMapped;
            await host.WaitUntilTriggerAnswersAsync(exited.Task, timeout.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or HttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            var log = string.Join('\n', host.Log.TakeLast(60));
            await host.DisposeAsync();
            throw new InvalidOperationException(
                $"The Functions host ({script}) did not start on {root} over {appDirectory}: {(ex is OperationCanceledException ? $"no answer within {StartTimeout.TotalSeconds} s" : ex.Message)}.\n--- last lines of its output\n{log}", ex);
        }

        return host;
    }

    /// <summary>Completes with the first line (already seen or to come) that matches.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, CancellationToken cancellationToken = default)
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_log)
        {
            var line = _log.FirstOrDefault(match);
            if (line is not null)
            {
                return Task.FromResult(line);
            }

            _waiters.Add((match, seen));
        }

        return seen.Task.WaitAsync(cancellationToken);
    }

    /// <summary>How many lines so far match (to wait for the next one with <see cref="WaitForNextLineAsync"/>).</summary>
    public int CountLines(Func<string, bool> match)
    {
        lock (_log)
        {
            return _log.Count(match);
        }
    }

    /// <summary>Completes when more than <paramref name="already"/> lines match.</summary>
    public Task WaitForNextLineAsync(Func<string, bool> match, int already, CancellationToken cancellationToken = default)
    {
        var count = 0;
        return WaitForLineAsync(line => match(line) && ++count > already, cancellationToken);
    }

    /// <summary>
    /// Runs a non-HTTP function now through the host's admin endpoint (<c>POST /admin/functions/{name}</c> with the
    /// master key) and waits until the host logs that invocation as executed; returns that log line.
    /// </summary>
    public async Task<string> InvokeAsync(string functionName, CancellationToken cancellationToken = default)
    {
        bool Executed(string line) => line.Contains($"Executed 'Functions.{functionName}'", StringComparison.Ordinal);
        var before = CountLines(Executed);
        var next = WaitForNextLineAsync(Executed, before, cancellationToken);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Root, "admin/functions/" + functionName))
        {
            Content = new StringContent("{\"input\":\"\"}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-functions-key", MasterKey);
        using var response = await http.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"POST /admin/functions/{functionName} answered {(int)response.StatusCode}.");
        }

        await next;
        return Log.Last(Executed);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // SIGTERM: the host stops its worker and exits; a kill of the tree if it lingers.
                using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false }))
                {
                    await kill!.WaitForExitAsync();
                }

                using var limit = new CancellationTokenSource(StopTimeout);
                try
                {
                    await _process.WaitForExitAsync(limit.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync();
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_secrets, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }

    private async Task WaitUntilTriggerAnswersAsync(Task exited, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (exited.IsCompleted)
            {
                throw new InvalidOperationException($"the host exited with code {_process.ExitCode} during start-up");
            }

            using var ping = new HttpRequestMessage(new HttpMethod("BITS_POST"), new Uri(Root, "uploads/ready.bin")) { Content = new ByteArrayContent([]) };
            ping.Headers.Add("BITS-Packet-Type", "Ping");
            ping.Headers.Add("x-functions-key", FunctionKey);
            try
            {
                using var response = await http.SendAsync(ping, cancellationToken);
                if (response.IsSuccessStatusCode && response.Headers.TryGetValues("BITS-Packet-Type", out var type) && type.Contains("Ack"))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            // Poll the trigger, not a timer: the next attempt follows the next log line or 200 ms, whichever first.
            var count = CountLines(_ => true);
            await Task.WhenAny(WaitForNextLineAsync(_ => true, count, cancellationToken), Task.Delay(200, cancellationToken), exited);
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        List<TaskCompletionSource<string>> matched = [];
        lock (_log)
        {
            _log.Add(line);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(line))
                {
                    matched.Add(_waiters[i].Seen);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var seen in matched)
        {
            seen.TrySetResult(line);
        }
    }

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(30)).Replace('+', 'A').Replace('/', 'B');

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
