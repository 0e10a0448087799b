using System.Reflection;

namespace Bits.Infra.Tests.Support;

/// <summary>The Bicep CLI from the Azure.Bicep.CommandLine.linux-x64 package (path recorded at build time).</summary>
internal static class BicepCli
{
    private static readonly Lazy<string> ExecutablePath = new(Locate);

    public static string Path => ExecutablePath.Value;

    public static Task<ProcessResult> RunAsync(CancellationToken cancellationToken, params string[] arguments) =>
        RunAsync(arguments, new Dictionary<string, string?>(), cancellationToken);

    public static Task<ProcessResult> RunAsync(
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?> environment,
        CancellationToken cancellationToken) =>
        ProcessRunner.RunAsync(Path, arguments, cancellationToken, environment);

    private static string Locate()
    {
        var recorded = typeof(BicepCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "BicepPath")?.Value;
        if (string.IsNullOrEmpty(recorded) || !File.Exists(recorded))
        {
            throw new InvalidOperationException(
                $"The Bicep CLI was not found at '{recorded}'. Restore tests/Bits.Infra.Tests (package Azure.Bicep.CommandLine.linux-x64).");
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The infra tests use the linux-x64 Bicep CLI package and run on Linux only.");
        }

        // NuGet extraction does not always keep the executable bit.
        var mode = File.GetUnixFileMode(recorded);
        const UnixFileMode execute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if ((mode & UnixFileMode.UserExecute) == 0)
        {
            File.SetUnixFileMode(recorded, mode | execute);
        }

        return recorded;
    }
}
