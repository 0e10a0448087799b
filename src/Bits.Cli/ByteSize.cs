using System.Globalization;

namespace Bits.Cli;

/// <summary>Byte counts as typed on the command line: <c>65536</c>, <c>64KiB</c>, <c>1.5MB</c>, <c>16 MiB</c>.</summary>
public static class ByteSize
{
    private static readonly (string Suffix, long Factor)[] Suffixes =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30),
        ("KB", 1000L), ("MB", 1000L * 1000), ("GB", 1000L * 1000 * 1000),
        ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30),
        ("B", 1L),
    ];

    /// <summary>
    /// Parses a size: a number with an optional suffix (case-insensitive): B; KB, MB, GB (powers of 1000); KiB, MiB,
    /// GiB and the short K, M, G (powers of 1024). Fractions are allowed with a suffix; the result must be a whole,
    /// positive number of bytes.
    /// </summary>
    public static bool TryParse(string? text, out long bytes, out string? error)
    {
        bytes = 0;
        error = null;
        var s = text?.Trim() ?? string.Empty;
        var factor = 1L;
        foreach (var (suffix, value) in Suffixes)
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                factor = value;
                s = s[..^suffix.Length].TrimEnd();
                break;
            }
        }

        if (s.Length == 0 || !decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            error = $"'{text}' is not a size: write a number of bytes, optionally with KB, MB, GB (1000-based) or KiB, MiB, GiB (1024-based), e.g. 64KiB or 4MB.";
            return false;
        }

        decimal total;
        try
        {
            total = number * factor;
        }
        catch (OverflowException)
        {
            total = decimal.MaxValue;
        }

        if (total < 1 || total > Array.MaxLength || total != decimal.Truncate(total))
        {
            error = string.Create(CultureInfo.InvariantCulture, $"'{text}' is not a usable size: it must be a whole number of bytes from 1 to {Array.MaxLength}.");
            return false;
        }

        bytes = (long)total;
        return true;
    }

    /// <summary>A short human form: 512 B, 64.0 KiB, 1.5 MiB, 2.00 GiB.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        if (bytes < 1024)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes} B");
        }

        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
