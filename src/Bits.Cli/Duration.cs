using System.Globalization;

namespace Bits.Cli;

/// <summary>Durations as typed on the command line: <c>2</c> (seconds), <c>500ms</c>, <c>2s</c>, <c>1m</c>, <c>00:00:05</c>.</summary>
public static class Duration
{
    public static bool TryParse(string? text, out TimeSpan value, out string? error)
    {
        value = TimeSpan.Zero;
        error = null;
        var s = text?.Trim() ?? string.Empty;
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, ms) in units)
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(s[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                value = TimeSpan.FromMilliseconds(number * ms);
                return Check(text, value, out error);
            }
        }

        if (double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds))
        {
            value = TimeSpan.FromSeconds(seconds);
            return Check(text, value, out error);
        }

        if (s.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value))
        {
            return Check(text, value, out error);
        }

        error = $"'{text}' is not a duration: write seconds (2), or a number with ms, s, m or h (500ms, 2s, 1m), or hh:mm:ss.";
        return false;
    }

    private static bool Check(string? text, TimeSpan value, out string? error)
    {
        error = value < TimeSpan.Zero || value > TimeSpan.FromHours(24) ? $"'{text}' is out of range (0 to 24 hours)." : null;
        return error is null;
    }
}
