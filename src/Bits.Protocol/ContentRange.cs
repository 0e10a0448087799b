using System.Globalization;

namespace Bits.Protocol;

/// <summary>
/// A Fragment's <c>Content-Range: bytes first-last/total</c> (zero-based, inclusive end, 64-bit).
/// An empty upload is a range with <see cref="Total"/> 0 and <see cref="Length"/> 0.
/// </summary>
public readonly record struct ContentRange(long First, long Last, long Total)
{
    /// <summary>Number of bytes the range covers.</summary>
    public long Length => Total == 0 ? 0 : Last - First + 1;

    public bool IsEmptyUpload => Total == 0;

    /// <summary>
    /// Parses strictly: the unit <c>bytes</c> (any case), decimal digits only, <c>first &lt;= last &lt; total</c>.
    /// For a zero-length upload <c>bytes */0</c>, <c>bytes 0--1/0</c> and <c>bytes 0-0/0</c> are accepted.
    /// </summary>
    public static bool TryParse(string? value, out ContentRange range, out string? problem)
    {
        range = default;
        problem = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            problem = "Content-Range is missing.";
            return false;
        }

        var span = value.AsSpan().Trim();
        if (span.Length < 6 || !span[..5].Equals("bytes", StringComparison.OrdinalIgnoreCase) || span[5] != ' ')
        {
            problem = "Content-Range must start with the unit 'bytes'.";
            return false;
        }

        span = span[6..].TrimStart(' ');
        var slash = span.IndexOf('/');
        if (slash < 0)
        {
            problem = "Content-Range has no '/total'.";
            return false;
        }

        var rangePart = span[..slash];
        var totalPart = span[(slash + 1)..];
        if (!TryParseNumber(totalPart, out var total))
        {
            problem = "Content-Range total is not a non-negative 64-bit number.";
            return false;
        }

        if (total == 0)
        {
            // Zero-length upload: the Windows behaviour is unverified, so accept the plausible spellings.
            if (rangePart is "*" || rangePart.SequenceEqual("0--1") || rangePart.SequenceEqual("0-0"))
            {
                range = new ContentRange(0, -1, 0);
                return true;
            }

            problem = "Content-Range for an empty upload must be 'bytes */0', 'bytes 0--1/0' or 'bytes 0-0/0'.";
            return false;
        }

        var dash = rangePart.IndexOf('-');
        if (dash <= 0)
        {
            problem = "Content-Range is not 'first-last'.";
            return false;
        }

        if (!TryParseNumber(rangePart[..dash], out var first) || !TryParseNumber(rangePart[(dash + 1)..], out var last))
        {
            problem = "Content-Range first or last is not a non-negative 64-bit number.";
            return false;
        }

        if (last < first)
        {
            problem = "Content-Range last is before first.";
            return false;
        }

        if (last >= total)
        {
            problem = "Content-Range last is not below total.";
            return false;
        }

        range = new ContentRange(first, last, total);
        return true;
    }

    private static bool TryParseNumber(ReadOnlySpan<char> text, out long number)
    {
        number = 0;
        if (text.IsEmpty || text.Length > 19)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    public override string ToString() =>
        Total == 0 ? "bytes */0" : string.Create(CultureInfo.InvariantCulture, $"bytes {First}-{Last}/{Total}");
}
