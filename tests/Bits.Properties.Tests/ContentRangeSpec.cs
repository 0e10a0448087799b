using System.Globalization;
using System.Text.RegularExpressions;

namespace Bits.Properties.Tests;

/// <summary>
/// The test's own statement of which <c>Content-Range</c> values a Fragment may carry (digest §2.3 and §7): written
/// from the rules, not from <c>ContentRange.cs</c>, and used as the oracle of the parser properties and the model.
/// <list type="bullet">
/// <item>surrounding white space is ignored; the unit is <c>bytes</c> in any case, then one or more spaces;</item>
/// <item><c>first-last/total</c> in ASCII decimal digits only (no sign, no hex, no other Unicode digits), each fitting a
/// signed 64-bit number, with <c>first ≤ last &lt; total</c>;</item>
/// <item>an empty upload (total 0) is spelled <c>*</c>, <c>0--1</c> or <c>0-0</c> before <c>/0</c>.</item>
/// </list>
/// </summary>
internal static partial class ContentRangeSpec
{
    public static bool TryParse(string? value, out (long First, long Last, long Total) range)
    {
        range = default;
        if (value is null)
        {
            return false;
        }

        var match = Grammar().Match(value.Trim());
        if (!match.Success || !TryNumber(match.Groups["total"].Value, out var total))
        {
            return false;
        }

        var part = match.Groups["range"].Value;
        if (total == 0)
        {
            if (part is "*" or "0--1" or "0-0")
            {
                range = (0, -1, 0);
                return true;
            }

            return false;
        }

        var pair = Pair().Match(part);
        if (!pair.Success || !TryNumber(pair.Groups["first"].Value, out var first) || !TryNumber(pair.Groups["last"].Value, out var last)
            || first > last || last >= total)
        {
            return false;
        }

        range = (first, last, total);
        return true;
    }

    private static bool TryNumber(string digits, out long value) =>
        long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    // \z, not $: '$' would also match before a final line feed.
    [GeneratedRegex(@"\A[Bb][Yy][Tt][Ee][Ss] +(?<range>[^/]*)/(?<total>[0-9]{1,19})\z", RegexOptions.CultureInvariant)]
    private static partial Regex Grammar();

    [GeneratedRegex(@"\A(?<first>[0-9]{1,19})-(?<last>[0-9]{1,19})\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pair();
}
