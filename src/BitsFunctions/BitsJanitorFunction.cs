using Bits.Protocol;
using Microsoft.Azure.Functions.Worker;

namespace BitsFunctions;

/// <summary>
/// The session-expiry janitor on a timer: the same <see cref="BitsSessionJanitor.RunOnceAsync"/> the Kestrel host runs
/// from its hosted service. The Functions host holds a singleton lock for timer functions, so one instance sweeps at a
/// time however far the app scales out (and concurrent sweeps would be safe anyway).
/// </summary>
public sealed class BitsJanitorFunction(BitsSessionJanitor janitor)
{
    public const string Name = "BitsJanitor";

    /// <summary>Every 15 minutes (NCRONTAB with seconds), like the default <c>Bits:Janitor:Interval</c> of the Kestrel host.</summary>
    public const string Schedule = "0 */15 * * * *";

    [Function(Name)]
    public async Task RunAsync([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        // Storage faults are logged by the janitor; rethrowing marks this invocation failed, and the next one retries.
        await janitor.RunOnceAsync(cancellationToken);
    }
}
