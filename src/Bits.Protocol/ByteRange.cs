using System.Globalization;

namespace Bits.Protocol;

/// <summary>A single HTTP byte range (<c>Range: bytes=a-b</c>, <c>bytes=a-</c>, <c>bytes=-n</c>) for reply downloads.</summary>
public static class ByteRange
{
    /// <summary>
    /// Resolves <paramref name="header"/> against a resource of <paramref name="length"/> bytes. A missing, malformed or
    /// multi-range header means the whole resource (<paramref name="range"/> null), as RFC 9110 allows. Returns false
    /// only for a range that cannot be satisfied (416).
    /// </summary>
    public static bool TryParse(string? header, long length, out (long From, long To)? range)
    {
        range = null;
        if (string.IsNullOrWhiteSpace(header) || length == 0)
        {
            return true;
        }

        var value = header.Trim();
        if (!value.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || value.Contains(',', StringComparison.Ordinal))
        {
            return true;
        }

        var spec = value[6..].Trim();
        var dash = spec.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return true;
        }

        var first = spec[..dash].Trim();
        var last = spec[(dash + 1)..].Trim();
        if (first.Length == 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix))
            {
                return true;
            }

            if (suffix == 0)
            {
                return false;
            }

            range = (Math.Max(0, length - suffix), length - 1);
            return true;
        }

        if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var from))
        {
            return true;
        }

        long to = length - 1;
        if (last.Length > 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out to) || to < from)
            {
                return true;
            }
        }

        if (from >= length)
        {
            return false;
        }

        range = (from, Math.Min(to, length - 1));
        return true;
    }
}
