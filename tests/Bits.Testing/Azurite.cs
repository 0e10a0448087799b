using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bits.Testing;

/// <summary>
/// Runs the npm-pinned Azurite (node_modules/.bin/azurite) on free loopback ports with a temporary data folder.
/// Fails with a clear message when it cannot start: Azurite is a declared dependency, installed by ./test.sh.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    /// <summary>Azurite's documented development account (public, not a secret).</summary>
    public const string AccountName = "devstoreaccount1";

    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly bool _ownsDataFolder;
    private Process? _process;

    private AzuriteProcess(string dataFolder, bool ownsDataFolder, int blobPort, int queuePort, int tablePort)
    {
        DataFolder = dataFolder;
        _ownsDataFolder = ownsDataFolder;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
    }

    public string DataFolder { get; }

    public int BlobPort { get; }

    public int QueuePort { get; }

    public int TablePort { get; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/{AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{QueuePort}/{AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/{AccountName};";

    /// <summary>Starts Azurite; <paramref name="dataFolder"/> null means a new temporary folder, deleted on dispose.</summary>
    public static async Task<AzuriteProcess> StartAsync(string? dataFolder = null, int? blobPort = null, int? queuePort = null, int? tablePort = null)
    {
        var owns = dataFolder is null;
        dataFolder ??= Directory.CreateTempSubdirectory("azurite-").FullName;
        var azurite = new AzuriteProcess(dataFolder, owns, blobPort ?? FreePort(), queuePort ?? FreePort(), tablePort ?? FreePort());
        await azurite.LaunchAsync();
        return azurite;
    }

    /// <summary>Stops the process (keeping the data folder) so a test can restart it with <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }
    }

    public async Task RestartAsync()
    {
        await StopAsync();
        await LaunchAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsDataFolder)
        {
            try
            {
                Directory.Delete(DataFolder, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp folder is harmless.
            }
        }
    }

    private async Task LaunchAsync()
    {
        var root = RepositoryRoot.Find();
        var executable = Path.Combine(root, "node_modules", ".bin", "azurite");
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed at {executable}. Run ./test.sh (it runs 'npm ci') or 'npm ci' in {root}.");
        }

        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var argument in new[]
        {
            "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--location", DataFolder, "--skipApiVersionCheck", "--silent", "--disableProductStyleUrl", "--disableTelemetry",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var listening = 0;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(e.Data);
            }

            if (e.Data.Contains("successfully listening", StringComparison.OrdinalIgnoreCase) && Interlocked.Increment(ref listening) == 3)
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("Azurite exited during start-up."));

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"Azurite could not be started from {executable}: {ex.Message}. Is Node.js installed?", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        try
        {
            await ready.Task.WaitAsync(StartTimeout);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            await StopAsync();
            string log;
            lock (output)
            {
                log = output.ToString();
            }

            throw new InvalidOperationException($"Azurite did not start on 127.0.0.1 (ports {BlobPort}/{QueuePort}/{TablePort}): {ex.Message}\n{log}", ex);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>One Azurite per test assembly (an xunit assembly fixture). Tests isolate themselves by unique names.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;

    public AzuriteProcess Azurite => _azurite ?? throw new InvalidOperationException("Azurite is not started.");

    public string ConnectionString => Azurite.ConnectionString;

    public async ValueTask InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

public static class RepositoryRoot
{
    /// <summary>The folder holding BitsFunctions.sln, found by walking up from the test binaries.</summary>
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BitsFunctions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No BitsFunctions.sln above {AppContext.BaseDirectory}.");
    }
}
