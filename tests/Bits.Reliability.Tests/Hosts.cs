using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Bits.AspNetCore;
using Bits.Host;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bits.Reliability.Tests;

/// <summary>
/// The Azure SDK retry settings of a host under test. <see cref="Default"/> keeps the SDK's own (what production runs
/// with); the others shorten the waits so fault tests stay fast, or switch SDK retries off so every storage fault
/// reaches the BITS client as a 5xx Ack.
/// </summary>
public sealed record SdkRetry(int MaxRetries, TimeSpan Delay, TimeSpan NetworkTimeout)
{
    public static readonly SdkRetry? Default = null;

    /// <summary>The SDK's 3 retries, with 50 ms base delay instead of 0.8 s.</summary>
    public static readonly SdkRetry Fast = new(3, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(20));

    /// <summary>No SDK retries: the BITS client's retry is the only one.</summary>
    public static readonly SdkRetry None = new(0, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(20));

    public void Apply(RetryOptions retry)
    {
        retry.MaxRetries = MaxRetries;
        retry.Delay = Delay;
        retry.MaxDelay = Delay * 8;
        retry.NetworkTimeout = NetworkTimeout;
    }
}

/// <summary>Log lines a host wrote (event name and message), for asserting how faults were classified.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, string Event, string Message)> _entries = new();

    public IReadOnlyCollection<(string Category, LogLevel Level, string Event, string Message)> Entries => _entries;

    public int Count(string eventName) => _entries.Count(e => e.Event == eventName);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<(string, LogLevel, string, string)> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && category.StartsWith("Bits", StringComparison.Ordinal);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                entries.Enqueue((category, logLevel, eventId.Name ?? string.Empty, formatter(state, exception) + (exception is null ? string.Empty : " | " + exception.GetType().Name + ": " + exception.Message)));
            }
        }
    }
}

/// <summary>The Kestrel host (<see cref="BitsHostApp"/>) in this process, on a free loopback port (started by <see cref="Bits.Testing.InProcessHost"/>).</summary>
public sealed class InProcessHost : IAsyncDisposable
{
    private readonly Bits.Testing.InProcessHost _host;

    private InProcessHost(Bits.Testing.InProcessHost host, LogCollector logs)
    {
        _host = host;
        Logs = logs;
    }

    public Uri Root => _host.Root;

    public IServiceProvider Services => _host.Services;

    public LogCollector Logs { get; }

    public static async Task<InProcessHost> StartAsync(
        ProxiedStorage storage,
        SdkRetry? retry = null,
        IDictionary<string, string?>? settings = null,
        TimeProvider? time = null,
        bool proxied = true,
        bool janitorByHand = false)
    {
        var values = storage.HostSettings(proxied, settings);
        var logs = new LogCollector();
        var host = await Bits.Testing.InProcessHost.StartAsync(
            values,
            builder =>
            {
                builder.Logging.AddProvider(logs);
                if (janitorByHand)
                {
                    // The hosted service stays idle: the test runs the janitor itself, with a fake clock.
                    builder.Services.Configure<BitsJanitorSchedule>(schedule => schedule.HostedService = false);
                }

                if (time is not null)
                {
                    builder.Services.AddSingleton(time);
                }

                if (retry is not null)
                {
                    var connectionString = values["BitsStorage:ConnectionString"]!;
                    var blobOptions = new BlobClientOptions();
                    retry.Apply(blobOptions.Retry);
                    var tableOptions = new TableClientOptions();
                    retry.Apply(tableOptions.Retry);
                    builder.Services.AddSingleton(new BlobServiceClient(connectionString, blobOptions));
                    builder.Services.AddSingleton(new TableServiceClient(connectionString, tableOptions));
                    var queueOptions = new QueueClientOptions();
                    retry.Apply(queueOptions.Retry);
                    builder.Services.AddSingleton(new QueueServiceClient(connectionString, queueOptions));
                }
            },
            TestContext.Current.CancellationToken);
        return new InProcessHost(host, logs);
    }

    public Uri Url(string path) => new(Root, "uploads/" + path);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}

/// <summary>
/// src/Bits.Host run as a real child process (<c>dotnet Bits.Host.dll --urls http://127.0.0.1:0</c>) with its settings as
/// environment variables, so a test can kill it with <see cref="Kill"/> at any moment, like a crashed instance.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _output;

    private HostProcess(Process process, StringBuilder output, Uri root)
    {
        _process = process;
        _output = output;
        Root = root;
    }

    public Uri Root { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<HostProcess> StartAsync(IDictionary<string, string?> settings)
    {
        var configuration = typeof(HostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "Configuration").Value!;
        var folder = Path.Combine(RepositoryRoot.Find(), "src", "Bits.Host", "bin", configuration, "net10.0");
        var dll = Path.Combine(folder, "Bits.Host.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} does not exist; build src/Bits.Host in {configuration} first.");
        }

        var start = new ProcessStartInfo(DotnetExecutable())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = folder,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var output = new StringBuilder();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        void Collect(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }

            const string Marker = "Now listening on: ";
            var at = line.IndexOf(Marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                listening.TrySetResult(new Uri(line[(at + Marker.Length)..].Trim().TrimEnd('/') + "/"));
            }
        }

        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("The host exited during start-up."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var root = await listening.Task.WaitAsync(StartTimeout, TestContext.Current.CancellationToken);
            return new HostProcess(process, output, root);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            process.Kill(entireProcessTree: true);
            string log;
            lock (output)
            {
                log = output.ToString();
            }

            throw new InvalidOperationException($"Bits.Host did not start: {ex.Message}\n{log}", ex);
        }
    }

    public Uri Url(string path) => new(Root, "uploads/" + path);

    /// <summary>Kills the process at once (SIGKILL): no shutdown, no finishing of requests in progress.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The dotnet muxer that runs this test process (DOTNET_HOST_PATH, else the one above the shared runtime).</summary>
    private static string DotnetExecutable()
    {
        var name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var candidate = Path.Combine(root, name);
        return File.Exists(candidate) ? candidate : name;
    }
}

/// <summary>Sends every request to the host <see cref="Target"/> points at now: a load balancer a test can switch.</summary>
public sealed class SwitchingHandler(Uri target) : DelegatingHandler(new SocketsHttpHandler())
{
    private Uri _target = target;

    public Uri Target
    {
        get => Volatile.Read(ref _target);
        set => Volatile.Write(ref _target, value);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var target = Target;
        request.RequestUri = new UriBuilder(request.RequestUri!) { Host = target.Host, Port = target.Port }.Uri;
        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>Runs an async callback before the client sends a request (e.g. stop storage before the 5th Fragment).</summary>
public sealed class HookHandler(Func<HttpRequestMessage, Task> beforeSend) : DelegatingHandler(new SocketsHttpHandler())
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await beforeSend(request);
        return await base.SendAsync(request, cancellationToken);
    }
}

public static class BitsPackets
{
    public static string? PacketType(this HttpRequestMessage request) =>
        request.Headers.TryGetValues("BITS-Packet-Type", out var values) ? values.FirstOrDefault() : null;

    public static string Hex(uint? code) => code is { } value ? "0x" + value.ToString("X8", CultureInfo.InvariantCulture) : "(none)";
}
