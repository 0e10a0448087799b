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
