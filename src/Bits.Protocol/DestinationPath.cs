using System.Text;

namespace Bits.Protocol;

/// <summary>
/// Turns the URL path under the upload route into a destination name: percent-decoded exactly once as
/// UTF-8, '+' kept literally, nested segments allowed; anything that could escape the route is refused.
/// </summary>
public static class DestinationPath
{
    /// <summary>Azure's limit for a blob name.</summary>
    public const int MaxNameLength = 1024;

    /// <summary>Azure's limit for one path segment of a blob name.</summary>
    public const int MaxSegmentLength = 254;

    public static bool TryParse(string? rawPath, out string name, out string? problem)
    {
        name = string.Empty;
        problem = null;
        if (string.IsNullOrEmpty(rawPath))
        {
            problem = "The upload URL names no file.";
            return false;
        }

        var query = rawPath.IndexOfAny(['?', '#']);
        if (query >= 0)
        {
            rawPath = rawPath[..query];
        }

        rawPath = rawPath.TrimStart('/');
        if (rawPath.Length == 0)
        {
            problem = "The upload URL names no file.";
            return false;
        }

        if (rawPath.Contains("%2F", StringComparison.OrdinalIgnoreCase) || rawPath.Contains("%5C", StringComparison.OrdinalIgnoreCase))
        {
            // Rule 6a.3: an encoded separator would name a different path on each host (the Functions host decodes it).
            problem = "The upload URL contains an encoded '/' or '\\' (%2F, %5C).";
            return false;
        }

        if (!TryPercentDecode(rawPath, out var decoded))
        {
            problem = "The upload URL has an invalid percent-encoding or is not UTF-8.";
            return false;
        }

        foreach (var c in decoded)
        {
            if (char.IsControl(c))
            {
                problem = "The upload URL contains a control character.";
                return false;
            }

            if (c == '\\')
            {
                problem = "The upload URL contains a backslash.";
                return false;
            }

            if (c == '%')
            {
                // The Functions host re-encodes '%' when it forwards a path, so such a name cannot mean the same on both hosts.
                problem = "The upload URL names a file whose name contains '%'; '%' is not allowed in file names.";
                return false;
            }

            if (IsBidiControl(c))
            {
                problem = "The upload URL contains a bidirectional control character.";
                return false;
            }
        }

        if (decoded.EndsWith('/'))
        {
            problem = "The upload URL names a directory, not a file.";
            return false;
        }

        var segments = decoded.Split('/');
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                problem = "The upload URL has an empty path segment.";
                return false;
            }

            if (segment is "." or "..")
            {
                problem = "The upload URL has a '.' or '..' segment.";
                return false;
            }

            if (segment.Length > MaxSegmentLength)
            {
                problem = "A path segment of the upload URL is longer than 254 characters.";
                return false;
            }

            if (segment.EndsWith('.'))
            {
                problem = "A path segment of the upload URL ends with a dot.";
                return false;
            }
        }

        if (decoded.Length > MaxNameLength)
        {
            problem = "The upload URL path is longer than 1024 characters.";
            return false;
        }

        name = decoded;
        return true;
    }

    /// <summary>
    /// Bidirectional controls that can make a name display differently from what it is (U+202E turns
    /// <c>gpj.exe</c> into what looks like <c>exe.jpg</c>): U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069.
    /// Other format characters (U+200C, U+200D) are legitimate in Persian, Indic and emoji names.
    /// </summary>
    public static bool IsBidiControl(char c) =>
        c is '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    /// <summary>Whether <paramref name="value"/> contains a bidirectional control (<see cref="IsBidiControl"/>).</summary>
    public static bool ContainsBidiControl(string? value) => value is not null && value.Any(IsBidiControl);

    /// <summary>
    /// Text safe for a log line: control, format and other non-printing characters (and bidirectional controls) become
    /// <c>\uXXXX</c>, so a logged name reads as what it is.
    /// </summary>
    public static string? ForLog(string? value)
    {
        if (value is null || !value.Any(NeedsEscape))
        {
            return value;
        }

        var text = new StringBuilder(value.Length + 16);
        foreach (var c in value)
        {
            if (NeedsEscape(c))
            {
                text.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    private static bool NeedsEscape(char c) =>
        c == '\\' || IsBidiControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Control
            or System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.LineSeparator
            or System.Globalization.UnicodeCategory.ParagraphSeparator or System.Globalization.UnicodeCategory.OtherNotAssigned
            or System.Globalization.UnicodeCategory.PrivateUse;

    private static bool TryPercentDecode(string value, out string decoded)
    {
        decoded = string.Empty;
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            decoded = value;
            return true;
        }

        var bytes = new List<byte>(value.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '%')
            {
                if (i + 2 >= value.Length || !IsHex(value[i + 1]) || !IsHex(value[i + 2]))
                {
                    return false;
                }

                bytes.Add((byte)((HexValue(value[i + 1]) << 4) | HexValue(value[i + 2])));
                i += 2;
            }
            else if (c < 0x80)
            {
                bytes.Add((byte)c);
            }
            else
            {
                // Non-ASCII characters that arrived unescaped: keep them as their UTF-8 bytes.
                var rune = char.IsHighSurrogate(c) && i + 1 < value.Length
                    ? new Rune(c, value[++i])
                    : new Rune(c);
                var n = rune.EncodeToUtf8(utf8);
                for (var k = 0; k < n; k++)
                {
                    bytes.Add(utf8[k]);
                }
            }
        }

        try
        {
            decoded = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString([.. bytes]);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F');

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
