using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Azure.Core.Pipeline;

namespace Bits.Testing;

/// <summary>
/// Runs the npm-pinned Azurite (node_modules/.bin/azurite) on free loopback ports with a temporary data folder.
/// Fails with a clear message when it cannot start: Azurite is a declared dependency, installed by ./test.sh.
/// <para>
/// <see cref="StartWithOAuthAsync"/> runs it over HTTPS with <c>--oauth basic</c> instead, so SDK clients can use a
/// <see cref="global::Azure.Core.TokenCredential"/> (the managed-identity path; the SDKs refuse bearer tokens over
/// plain HTTP, and so does Azurite). The self-signed certificate is made at start-up for 127.0.0.1/localhost; clients
/// trust exactly that certificate through <see cref="CreateTransport"/>. Tokens come from
/// <see cref="AzuriteTokenCredential"/>: Azurite's basic OAuth checks a token's shape, issuer, audience and lifetime,
/// not its signature.
/// </para>
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    /// <summary>Azurite's documented development account (public, not a secret).</summary>
    public const string AccountName = "devstoreaccount1";

    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly bool _ownsDataFolder;
    private readonly TlsFiles? _tls;
    private Process? _process;
    private TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AzuriteProcess(string dataFolder, bool ownsDataFolder, int blobPort, int queuePort, int tablePort, TlsFiles? tls = null)
    {
        DataFolder = dataFolder;
        _ownsDataFolder = ownsDataFolder;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
        _tls = tls;
    }

    public string DataFolder { get; }

    public int BlobPort { get; }

    public int QueuePort { get; }

    public int TablePort { get; }

    /// <summary>True when started by <see cref="StartWithOAuthAsync"/>: HTTPS endpoints, bearer tokens accepted.</summary>
    public bool UsesOAuth => _tls is not null;

    /// <summary>The self-signed certificate Azurite presents in OAuth mode (null in plain mode).</summary>
    public X509Certificate2? Certificate => _tls?.Certificate;

    private string Scheme => UsesOAuth ? "https" : "http";

    /// <summary>Shared-key connection string (Azurite keeps accepting the account key in OAuth mode too).</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol={Scheme};AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint={BlobServiceUri};QueueEndpoint={QueueServiceUri};TableEndpoint={TableServiceUri};";

    /// <summary>The blob service URI, e.g. <c>https://127.0.0.1:port/devstoreaccount1</c> in OAuth mode.</summary>
    public Uri BlobServiceUri => ServiceUri(BlobPort);

    public Uri QueueServiceUri => ServiceUri(QueuePort);

    public Uri TableServiceUri => ServiceUri(TablePort);

    /// <summary>Starts Azurite; <paramref name="dataFolder"/> null means a new temporary folder, deleted on dispose.</summary>
    public static async Task<AzuriteProcess> StartAsync(string? dataFolder = null, int? blobPort = null, int? queuePort = null, int? tablePort = null)
    {
        var owns = dataFolder is null;
        dataFolder ??= Directory.CreateTempSubdirectory("azurite-").FullName;
        var azurite = new AzuriteProcess(dataFolder, owns, blobPort ?? FreePort(), queuePort ?? FreePort(), tablePort ?? FreePort());
        await azurite.LaunchAsync();
        return azurite;
    }

    /// <summary>
    /// Starts Azurite over HTTPS with <c>--oauth basic</c> and a self-signed certificate made for this run, so clients
    /// can authenticate with a <see cref="global::Azure.Core.TokenCredential"/> (see <see cref="AzuriteTokenCredential"/>)
    /// and must trust <see cref="Certificate"/> (see <see cref="CreateTransport"/>).
    /// </summary>
    public static async Task<AzuriteProcess> StartWithOAuthAsync(string? dataFolder = null)
    {
        var owns = dataFolder is null;
        dataFolder ??= Directory.CreateTempSubdirectory("azurite-").FullName;
        var tls = TlsFiles.Create();
        var azurite = new AzuriteProcess(dataFolder, owns, FreePort(), FreePort(), FreePort(), tls);
        try
        {
            await azurite.LaunchAsync();
        }
        catch
        {
            await azurite.DisposeAsync();
            throw;
        }

        return azurite;
    }

    /// <summary>
    /// An HTTP handler for this Azurite: in OAuth mode it trusts exactly <see cref="Certificate"/> (pinned by its
    /// bytes; nothing else, and no system trust store involved), in plain mode it is an ordinary handler.
    /// </summary>
    public HttpMessageHandler CreateHttpHandler()
    {
        var handler = new SocketsHttpHandler();
        if (_tls is { } tls)
        {
            var pinned = tls.Certificate.RawData;
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    certificate is not null &&
                    (errors & ~(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch)) == SslPolicyErrors.None &&
                    certificate.GetRawCertData().AsSpan().SequenceEqual(pinned),
            };
        }

        return handler;
    }

    /// <summary>An Azure SDK transport over <see cref="CreateHttpHandler"/>, for <c>BlobClientOptions.Transport</c> etc.</summary>
    public HttpPipelineTransport CreateTransport() => new HttpClientTransport(new HttpClient(CreateHttpHandler()));

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

    /// <summary>
    /// Stops the process the way a service manager would (keeping the data folder): SIGTERM makes Azurite close its
    /// three servers, which saves its LokiJS metadata (otherwise saved only every 5 s); once all three report closed, a
    /// second SIGTERM ends a process that lingers (the first one's handler runs once; the second gets node's default).
    /// Falls back to a kill after <paramref name="timeout"/> (default 20 s), and on Windows, which has no SIGTERM.
    /// </summary>
    public async Task StopGracefullyAsync(TimeSpan? timeout = null)
    {
        if (_process is not { } process || OperatingSystem.IsWindows())
        {
            await StopAsync();
            return;
        }

        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        try
        {
            if (!process.HasExited)
            {
                await SignalAsync(process, "TERM");
                await Task.WhenAny(process.WaitForExitAsync(deadline.Token), _closed.Task.WaitAsync(deadline.Token));
                deadline.Token.ThrowIfCancellationRequested();
                if (!process.HasExited)
                {
                    await SignalAsync(process, "TERM");
                    await process.WaitForExitAsync(deadline.Token);
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            // Did not stop in time: kill it below.
        }

        await StopAsync();
    }

    public async Task RestartAsync()
    {
        await StopAsync();
        await LaunchAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _tls?.Dispose();
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

    private static async Task SignalAsync(Process process, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
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

        if (_tls is { } tls)
        {
            foreach (var argument in new[] { "--oauth", "basic", "--cert", tls.CertificatePath, "--key", tls.KeyPath })
            {
                start.ArgumentList.Add(argument);
            }

            // Put Block From URL makes Azurite fetch the copy source from itself over HTTPS. Azurite 3.37 pins its
            // own presented certificate for that loopback request (BlockBlobHandler.getLoopbackHttpsAgent), so no
            // trust setting is needed; NODE_EXTRA_CA_CERTS additionally makes node trust this run's self-signed
            // certificate (and only it), should an Azurite version fetch with node's default trust instead. No
            // NODE_TLS_REJECT_UNAUTHORIZED=0: validation stays on.
            start.Environment["NODE_EXTRA_CA_CERTS"] = tls.CertificatePath;
        }

        var output = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _closed = closed;
        var listening = 0;
        var closing = 0;
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

            if (e.Data.Contains("successfully closed", StringComparison.OrdinalIgnoreCase) && Interlocked.Increment(ref closing) == 3)
            {
                closed.TrySetResult();
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

    private Uri ServiceUri(int port) => new($"{Scheme}://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}/{AccountName}");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A free loopback port below the system's ephemeral range, which the OS never hands out to a bind to port 0 or an
    /// outgoing connection: for a process that must be restarted on the same ports while other tests (and their
    /// Azurite instances on ephemeral ports) keep running, so none of them can take a port in between.
    /// </summary>
    public static int StablePort(params int[] except)
    {
        var low = 32768;
        if (File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
            && int.TryParse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], out var first))
        {
            low = first;
        }

        var floor = Math.Min(20_000, low / 2);
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(floor, low);
            if (except.Contains(port))
            {
                continue;
            }

            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken: try another.
            }
        }

        throw new InvalidOperationException($"No free loopback port found between {floor} and {low}.");
    }
}

/// <summary>A self-signed certificate for 127.0.0.1/localhost and its PEM files (certificate, PKCS#8 key).</summary>
internal sealed class TlsFiles : IDisposable
{
    private readonly string _folder;

    private TlsFiles(string folder, X509Certificate2 certificate)
    {
        _folder = folder;
        Certificate = certificate;
    }

    public X509Certificate2 Certificate { get; }

    public string CertificatePath => Path.Combine(_folder, "cert.pem");

    public string KeyPath => Path.Combine(_folder, "key.pem");

    public static TlsFiles Create()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));

        // No Key Usage extension: with one (digitalSignature, keyEncipherment, no keyCertSign) node/OpenSSL refuses
        // this self-signed certificate as the trust anchor Azurite pins for its own loopback copy-source request, and
        // every Put Block From URL fails with 500 CannotVerifyCopySource.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));

        var folder = Directory.CreateTempSubdirectory("azurite-tls-").FullName;
        var files = new TlsFiles(folder, X509CertificateLoader.LoadCertificate(certificate.RawData));
        File.WriteAllText(files.CertificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(files.KeyPath, key.ExportPkcs8PrivateKeyPem());
        return files;
    }

    public void Dispose()
    {
        Certificate.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
