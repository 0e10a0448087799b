using Bits.Client;

namespace Bits.Load;

/// <summary>
/// A <see cref="BitsClientOptions.FragmentPlanner"/> for one upload: fragment sizes drawn log-uniformly between
/// <paramref name="minFragment"/> and <paramref name="maxFragment"/> (so both 5 KB and 13 MB fragments occur often),
/// and with probability <paramref name="faultRate"/> (once the server has acknowledged something) a fault: half of them
/// retransmits (the previous fragment's bytes again, as after a lost Ack), half overlaps (starting 1 byte to one
/// fragment before the acknowledged offset).
/// </summary>
public sealed class FaultPlanner(int seed, long minFragment, long maxFragment, double faultRate)
{
    private readonly Random _random = new(seed);
    private FragmentPlan? _previous;

    public int Fragments { get; private set; }

    public int Retransmits { get; private set; }

    public int Overlaps { get; private set; }

    public FragmentPlan Plan(FragmentRequest request)
    {
        Fragments++;
        var length = LogUniform(minFragment, maxFragment);
        var first = request.NextOffset;
        var roll = _random.NextDouble();
        if (request.NextOffset > 0 && roll < faultRate)
        {
            if (roll < faultRate / 2 && _previous is { } previous)
            {
                Retransmits++;
                first = previous.First;
                length = previous.Length;
            }
            else
            {
                Overlaps++;
                first = request.NextOffset - _random.NextInt64(1, Math.Min(request.NextOffset, length) + 1);
            }
        }

        var plan = new FragmentPlan(first, Math.Max(1, Math.Min(length, request.TotalLength - first)));
        _previous = plan;
        return plan;
    }

    private long LogUniform(long min, long max) =>
        min >= max ? min : (long)Math.Round(Math.Exp(Math.Log(min) + (_random.NextDouble() * (Math.Log(max) - Math.Log(min)))));
}
