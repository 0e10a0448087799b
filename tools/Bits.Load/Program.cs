using System.Globalization;
using Bits.Load;
using Bits.Testing;

// ./load.sh [--sessions 64] [--max-size 64MiB] [--hosts 1|2|both] ...: see Usage below and README "Load test".
const string Usage = """
    Usage: ./load.sh [options]
      --sessions N          upload sessions (default 64), all at once unless --concurrency says otherwise
      --concurrency N       uploads (so requests) in flight at once, e.g. Flex's perInstanceConcurrency (default: all sessions)
      --fragment-memory SIZE  the hosts' Bits:FragmentMemoryBytes (default: the host's 64MiB)
      --server-max-fragment SIZE  the hosts' Bits:MaxFragmentBytes (default: the host's 16MiB)
      --max-size SIZE       file sizes are random in 0..SIZE (default 64MiB)
      --hosts 1|2|both      one host, two hosts with packets alternating between them, or both runs (default both)
      --min-fragment SIZE   smallest fragment (default 5KiB)
      --max-fragment SIZE   largest fragment (default 13MiB)
      --fault-rate F        share of fragments that are retransmits or overlaps (default 0.1)
      --seed N              seed of sizes, contents and fragment plans (default 1)
      --timeout-minutes M   cancel a run after M minutes (default 30)
      --verbose             hosts log warnings to the console
      --keep                keep the run's containers and table in Azurite's data folder
    SIZE: bytes or a number with K, M, G (KiB, MiB, GiB; "KB", "MB", "GB" mean the same).
    Exit code: 0 when every session completed, no file is corrupt and nothing is left in staging; 1 otherwise; 2 for bad arguments.
    """;

var options = new LoadOptions();
var topologies = new List<LoadTopology> { LoadTopology.OneHost, LoadTopology.TwoHosts };
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--sessions":
                options = options with { Sessions = int.Parse(Next(), CultureInfo.InvariantCulture) };
                break;
            case "--concurrency":
                options = options with { Concurrency = int.Parse(Next(), CultureInfo.InvariantCulture) };
                break;
            case "--fragment-memory":
                options = options with { FragmentMemoryBytes = Sizes.Parse(Next()) };
                break;
            case "--server-max-fragment":
                options = options with { MaxFragmentBytes = Sizes.Parse(Next()) };
                break;
            case "--max-size":
                options = options with { MaxSize = Sizes.Parse(Next()) };
                break;
            case "--min-fragment":
                options = options with { MinFragment = Sizes.Parse(Next()) };
                break;
            case "--max-fragment":
                options = options with { MaxFragment = Sizes.Parse(Next()) };
                break;
            case "--fault-rate":
                options = options with { FaultRate = double.Parse(Next(), CultureInfo.InvariantCulture) };
                break;
            case "--seed":
                options = options with { Seed = int.Parse(Next(), CultureInfo.InvariantCulture) };
                break;
            case "--timeout-minutes":
                options = options with { Timeout = TimeSpan.FromMinutes(double.Parse(Next(), CultureInfo.InvariantCulture)) };
                break;
            case "--hosts":
                topologies = Next() switch
                {
                    "1" => [LoadTopology.OneHost],
                    "2" => [LoadTopology.TwoHosts],
                    "both" => [LoadTopology.OneHost, LoadTopology.TwoHosts],
                    var other => throw new ArgumentException($"--hosts must be 1, 2 or both, not '{other}'"),
                };
                break;
            case "--verbose":
                options = options with { LogWarnings = true };
                break;
            case "--keep":
                options = options with { KeepData = true };
                break;
            case "-h" or "--help":
                Console.WriteLine(Usage);
                return 0;
            default:
                throw new ArgumentException($"unknown argument '{args[i]}'");
        }
    }

    if (options.Sessions < 1 || options.Concurrency < 0 || options.FragmentMemoryBytes < 0 || options.MaxFragmentBytes < 0 || options.MaxSize < 0 || options.MinFragment < 1 || options.MaxFragment < options.MinFragment || options.FaultRate is < 0 or > 1)
    {
        throw new ArgumentException("need --sessions >= 1, --concurrency >= 0, --max-size >= 0, 1 <= --min-fragment <= --max-fragment, 0 <= --fault-rate <= 1");
    }
}
catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"load: {ex.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"load: {options.Sessions} sessions ({(options.Concurrency > 0 ? options.Concurrency.ToString(CultureInfo.InvariantCulture) : "all")} at once), host fragment memory {(options.FragmentMemoryBytes > 0 ? Sizes.Format(options.FragmentMemoryBytes) : "default")}, sizes 0..{Sizes.Format(options.MaxSize)}, fragments {Sizes.Format(options.MinFragment)}..{Sizes.Format(options.MaxFragment)}, fault rate {options.FaultRate:P0}, seed {options.Seed}"));
Console.WriteLine("load: starting Azurite on free loopback ports");
await using var azurite = await AzuriteProcess.StartAsync();
var passed = true;
foreach (var topology in topologies)
{
    Console.WriteLine();
    Console.WriteLine(topology == LoadTopology.OneHost ? "== one host ==" : "== two hosts sharing Azurite, packets alternating ==");
    try
    {
        var report = await LoadRunner.RunAsync(azurite.ConnectionString, topology, options, Console.Out, cancel.Token);
        report.WriteTo(Console.Out);
        passed &= report.Passed;
    }
    catch (OperationCanceledException)
    {
        Console.WriteLine(cancel.IsCancellationRequested ? "cancelled" : $"timed out after {options.Timeout.TotalMinutes} minutes");
        Console.WriteLine("result:             FAIL");
        passed = false;
        if (cancel.IsCancellationRequested)
        {
            break;
        }
    }
}

return passed ? 0 : 1;
