using System.Globalization;

namespace Bits.Load;

/// <summary>Byte sizes on the command line: <c>65536</c>, <c>64K</c>, <c>64KiB</c>, <c>13MB</c>, <c>1GiB</c> (all binary).</summary>
public static class Sizes
{
    public static long Parse(string text)
    {
        var value = text.Trim();
        var multiplier = 1L;
        foreach (var (suffixes, factor) in new[]
        {
            (new[] { "KiB", "KB", "K" }, 1024L),
            (new[] { "MiB", "MB", "M" }, 1024L * 1024),
            (new[] { "GiB", "GB", "G" }, 1024L * 1024 * 1024),
        })
        {
            var suffix = suffixes.FirstOrDefault(s => value.EndsWith(s, StringComparison.OrdinalIgnoreCase));
            if (suffix is not null)
            {
                multiplier = factor;
                value = value[..^suffix.Length];
                break;
            }
        }

        return checked((long)(double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture) * multiplier));
    }

    public static string Format(long bytes) => bytes switch
    {
        >= 1024L * 1024 * 1024 when bytes % (1024L * 1024 * 1024) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024L * 1024 * 1024)} GiB"),
        >= 1024L * 1024 when bytes % (1024L * 1024) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024L * 1024)} MiB"),
        >= 1024 when bytes % 1024 == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
