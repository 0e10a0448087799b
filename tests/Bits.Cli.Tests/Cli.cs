using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Bits.Testing;

namespace Bits.Cli.Tests;

/// <summary>What one run of <c>bits</c> printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The <c>--json</c> result: the last line of standard output.</summary>
    public JsonObject Json => JsonNode.Parse(Stdout.TrimEnd().Split('\n')[^1])!.AsObject();

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the built CLI as a process: <c>dotnet src/Bits.Cli/bin/&lt;Configuration&gt;/&lt;tfm&gt;/Bits.Cli.dll</c>.</summary>
public static class Cli
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>The CLI built in the same configuration as these tests (the project reference builds it first).</summary>
    public static string DllPath { get; } = FindDll();

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<CliResult> RunAsync(IEnumerable<string> args, string? stdin = null, IDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        using var process = Start(args, environment, workingDirectory);
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        return await WaitAsync(process, stdout, stderr);
    }

    /// <summary>Starts the CLI with standard input closed; read its output with <see cref="WaitAsync"/>.</summary>
    public static Process Start(IEnumerable<string> args, IDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        // A shell without job control starts background commands with SIGINT ignored, and children inherit that (a
        // .NET program then never sees Ctrl+C). Under such a parent, start the CLI as a foreground command would be.
        var info = new ProcessStartInfo(SigIntIgnored() ? "env" : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        if (info.FileName == "env")
        {
            info.ArgumentList.Add("--default-signal=INT");
            info.ArgumentList.Add("dotnet");
        }

        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("BITS_PASSWORD");
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[name] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start.");
    }

    /// <summary>Whether this process ignores SIGINT (Linux: the SigIgn mask in /proc/self/status, bit 1 is signal 2).</summary>
    private static bool SigIntIgnored()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var mask)
            && (mask & 0b10) != 0;
    }

    public static async Task<CliResult> WaitAsync(Process process, Task<string> stdout, Task<string> stderr)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bits did not exit within {Limit.TotalSeconds} s.");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Reads <paramref name="output"/> line by line until a line matches <paramref name="match"/> (true) or the output
    /// ends (false), within the run's time limit; returns the lines read.
    /// </summary>
    public static async Task<(bool Matched, string Text)> ReadUntilAsync(StreamReader output, Func<string, bool> match)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(Limit);
        var text = new StringBuilder();
        try
        {
            while (await output.ReadLineAsync(limit.Token) is { } line)
            {
                text.AppendLine(line);
                if (match(line))
                {
                    return (true, text.ToString());
                }
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            throw new TimeoutException($"bits printed no such line within {Limit.TotalSeconds} s:\n{text}");
        }

        return (false, text.ToString());
    }

    private static string FindDll()
    {
        var metadata = typeof(Cli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToDictionary(a => a.Key, a => a.Value);
        var path = Path.Combine(RepositoryRoot.Find(), "src", "Bits.Cli", "bin", metadata["CliConfiguration"]!, metadata["CliTargetFramework"]!, "Bits.Cli.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The CLI is not built at {path} (build the solution or this test project first).", path);
    }
}

/// <summary>A temporary folder for one test's files.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bits-cli-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public byte[] WriteRandom(string name, int length, int seed)
    {
        var bytes = SeededStream.Bytes(length, seed);
        System.IO.File.WriteAllBytes(File(name), bytes);
        return bytes;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
