using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Bits.Client;
using Bits.Load;
using Bits.Testing;

namespace Bits.Bench;

/// <summary>Peak memory of the real host process (<c>dotnet src/Bits.Host/bin/Release/net10.0/Bits.Host.dll</c>) under concurrent large fragments.</summary>
public sealed record RssResult(long IdleRssBytes, long PeakRssBytes, long MaxSampledRssBytes, int Sessions, int FragmentBytes, int Fragments, TimeSpan Elapsed);

public static class RssProbe
{
    public static async Task<RssResult> RunAsync(StorageNames storage, byte[] data, int sessions, int fragment, int fragmentsPerSession, TextWriter log, CancellationToken ct)
    {
        var dll = Path.Combine(RepositoryRoot.Find(), "src", "Bits.Host", "bin", "Release", "net10.0", "Bits.Host.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: build src/Bits.Host in Release first (bench.sh does).");
        }

        if (data.Length < fragment)
        {
            data = new byte[fragment];
            SeededStream.Fill(7, 0, data);
        }

        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var argument in new[] { dll, "--urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}") })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["BitsStorage__ConnectionString"] = storage.ConnectionString;
        start.Environment["BitsStorage__UploadContainer"] = storage.UploadContainer;
        start.Environment["BitsStorage__StagingContainer"] = storage.StagingContainer;
        start.Environment["BitsStorage__SessionTable"] = storage.SessionTable;
        start.Environment["Bits__Janitor__Enabled"] = "false";
        start.Environment["Logging__LogLevel__Default"] = "Warning";

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var root = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
            await WaitHealthyAsync(http, root, process, output, ct);

            var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
            await client.PingAsync(new Uri(root, "uploads/bench/ping.bin"), ct);
            var idle = Status(process.Id, "VmRSS");

            var length = (long)fragment * fragmentsPerSession;
            var sampled = 0L;
            using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var sampler = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
                try
                {
                    while (await timer.WaitForNextTickAsync(sampling.Token))
                    {
                        sampled = Math.Max(sampled, Status(process.Id, "VmRSS"));
                    }
                }
                catch (OperationCanceledException)
                {
                    // Done.
                }
            }, CancellationToken.None);

            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, sessions).Select(async i =>
            {
                var url = new Uri(root, string.Create(CultureInfo.InvariantCulture, $"uploads/bench/rss/{i}.bin"));
                var created = await client.CreateSessionAsync(url, ct: ct);
                var id = created.SessionId ?? throw new InvalidOperationException($"Create-Session failed: {created}");
                for (var k = 0; k < fragmentsPerSession; k++)
                {
                    var offset = (long)k * fragment;
                    var ack = await client.SendFragmentAsync(url, id, data.AsMemory((int)(offset % (data.Length - fragment + 1)), fragment), offset, length, ct: ct);
                    if (ack.StatusCode != 200)
                    {
                        throw new InvalidOperationException($"Fragment {k} of session {i} was answered {ack}");
                    }
                }

                var closed = await client.CloseSessionAsync(url, id, ct);
                if (closed.StatusCode != 200)
                {
                    throw new InvalidOperationException($"Close-Session of session {i} was answered {closed}");
                }
            }));
            var elapsed = stopwatch.Elapsed;
            await sampling.CancelAsync();
            await sampler;
            return new RssResult(idle, Status(process.Id, "VmHWM"), sampled, sessions, fragment, sessions * fragmentsPerSession, elapsed);
        }
        catch
        {
            lock (output)
            {
                log.WriteLine("host output:\n" + output);
            }

            throw;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    /// <summary>A value in bytes from /proc/&lt;pid&gt;/status, e.g. VmHWM (peak resident set) or VmRSS.</summary>
    public static long Status(int pid, string key)
    {
        foreach (var line in File.ReadLines(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/status")))
        {
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
            {
                var parts = line[(key.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    private static async Task WaitHealthyAsync(HttpClient http, Uri root, Process process, StringBuilder output, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited)
            {
                break;
            }

            try
            {
                using var response = await http.GetAsync(new Uri(root, "healthz"), ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200, ct);
        }

        lock (output)
        {
            throw new InvalidOperationException($"The host process did not become healthy on {root}:\n{output}");
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
