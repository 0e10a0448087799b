using System.Globalization;

namespace Bits.Bench;

/// <summary>Percentiles of a list of durations, in milliseconds.</summary>
public sealed class Stats(IEnumerable<TimeSpan> values)
{
    private readonly double[] _ms = values.Select(v => v.TotalMilliseconds).Order().ToArray();

    public int Count => _ms.Length;

    public double P50 => Percentile(0.50);

    public double P99 => Percentile(0.99);

    public double Max => _ms.Length == 0 ? double.NaN : _ms[^1];

    public double Percentile(double p) => _ms.Length == 0 ? double.NaN : _ms[Math.Clamp((int)Math.Ceiling(p * _ms.Length) - 1, 0, _ms.Length - 1)];

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"p50 {P50:F2} ms, p99 {P99:F2} ms (n={Count})");
}
