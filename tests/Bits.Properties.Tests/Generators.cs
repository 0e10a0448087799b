using System.Globalization;
using System.Text;
using Bits.Protocol;
using FsCheck;
using FsCheck.Fluent;

namespace Bits.Properties.Tests;

/// <summary>A well-formed range and one way a client could spell it.</summary>
public sealed record SpelledRange(long First, long Last, long Total, string Text)
{
    public override string ToString() => $"{First}-{Last}/{Total} as \"{Text}\"";
}

/// <summary>A header value that is usually almost well-formed: a valid range with a few random edits.</summary>
public sealed record MutatedText(string Value)
{
    public override string ToString() => System.Text.Json.JsonSerializer.Serialize(Value);
}

/// <summary>A packet type name in some casing with some surrounding white space.</summary>
public sealed record SpelledPacketType(BitsPacketType Type, string Text);

/// <summary>A GUID in one of the spellings <see cref="Guid.TryParse(string?, out Guid)"/> accepts, with odd white space.</summary>
public sealed record SpelledGuid(Guid Guid, string Text)
{
    public override string ToString() => System.Text.Json.JsonSerializer.Serialize(Text);
}

/// <summary>A safe destination name (segments of letters, digits, Unicode, '+', '%', spaces, dots inside).</summary>
public sealed record SafeName(string Name)
{
    public override string ToString() => System.Text.Json.JsonSerializer.Serialize(Name);
}

/// <summary>FsCheck generators for the parser properties (registered with <c>[Property(Arbitrary = ...)]</c>).</summary>
public static class Generators
{
    /// <summary>Characters that make parsers stumble: digits of other scripts, signs, separators, white space, controls.</summary>
    public const string Awkward = "0123456789-/ *bytesBYTES\t\r\n+,.xX;=\u0663\uFF10\u00A0\u2028\0\u00E9\uD83D";

    public static Gen<long> NonNegativeLong { get; } = Gen.Frequency(
        (3, Gen.Choose(0, 1000).Select(i => (long)i)),
        (2, Gen.Elements(0L, 1L, 2L, int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue, long.MaxValue - 1, long.MaxValue)),
        (3, from hi in Gen.Choose(0, int.MaxValue)
            from lo in Gen.Choose(int.MinValue, int.MaxValue)
            select ((long)hi << 32) | (uint)lo));

    private static Gen<string> Casing(string word) =>
        Gen.ArrayOf(Gen.Elements(true, false), word.Length)
            .Select(upper => new string(word.Select((c, i) => upper[i] ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)).ToArray()));

    private static Gen<string> Padding { get; } = Gen.Elements(string.Empty, string.Empty, " ", "  ", "\t", " \t ");

    public static Arbitrary<SpelledRange> SpelledRanges()
    {
        var bounds =
            from total in NonNegativeLong.Where(t => t > 0)
            from a in NonNegativeLong
            from b in NonNegativeLong
            let first = a % total
            select (First: first, Last: first + (b % (total - first)), Total: total);
        var gen =
            from range in bounds
            from unit in Casing("bytes")
            from spaces in Gen.Choose(1, 3)
            from before in Padding
            from after in Padding
            select new SpelledRange(range.First, range.Last, range.Total, string.Create(
                CultureInfo.InvariantCulture, $"{before}{unit}{new string(' ', spaces)}{range.First}-{range.Last}/{range.Total}{after}"));
        return gen.ToArbitrary();
    }

    public static Arbitrary<MutatedText> MutatedTexts()
    {
        var seed = Gen.OneOf(
            SpelledRanges().Generator.Select(r => r.Text),
            Gen.Elements("bytes */0", "bytes 0--1/0", "bytes 0-0/0", "bytes 0-0/1", "Bytes 5-9/10", "bytes 9223372036854775806-9223372036854775806/9223372036854775807"));
        var edit = from kind in Gen.Choose(0, 2)
                   from position in Gen.Choose(0, 1000)
                   from c in Gen.OneOf(Gen.Elements(Awkward.ToCharArray()), Gen.Choose(0, 0xFFFF).Select(i => (char)i))
                   select (Kind: kind, Position: position, Char: c);
        var gen = from text in seed
                  from edits in Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(edit, n))
                  select new MutatedText(Apply(text, edits));
        return gen.ToArbitrary();
    }

    public static Arbitrary<SpelledPacketType> PacketTypes() =>
        (from type in Gen.Elements(Enum.GetValues<BitsPacketType>())
         from text in Casing(type.ToWireName())
         from before in Padding
         from after in Padding
         select new SpelledPacketType(type, before + text + after)).ToArbitrary();

    public static Arbitrary<SpelledGuid> Guids()
    {
        var gen = from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i), 16)
                  let guid = new Guid(bytes)
                  from format in Gen.Elements("N", "D", "B", "P", "X")
                  from upper in Gen.Elements(true, false)
                  from space in Gen.Elements(string.Empty, " ", "\t", "\r\n", "\u00A0", "\u2028")
                  from before in Padding
                  from after in Padding
                  let text = upper ? guid.ToString(format).ToUpperInvariant() : guid.ToString(format)
                  select new SpelledGuid(guid, before + (format == "X" ? text.Replace(",", "," + space, StringComparison.Ordinal) : text) + after);
        return gen.ToArbitrary();
    }

    public static Arbitrary<SafeName> SafeNames()
    {
        var chars = Gen.Elements("abcXYZ019 +_-~!$&'()=@\u00E9\u00DF\u4E2D\u0416".ToCharArray());
        var segment = from length in Gen.Choose(1, 12)
                      from body in Gen.ArrayOf(chars, length)
                      from dot in Gen.Elements(string.Empty, ".bin", ".tar.gz")
                      let text = new string(body).Trim() + dot
                      where text.Length > 0 && !text.EndsWith('.') && text is not "." and not ".."
                      select text;
        return Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(segment, n))
            .Select(segments => new SafeName(string.Join('/', segments))).ToArbitrary();
    }

    private static string Apply(string text, (int Kind, int Position, char Char)[] edits)
    {
        var builder = new StringBuilder(text);
        foreach (var (kind, position, c) in edits)
        {
            var at = builder.Length == 0 ? 0 : position % (builder.Length + (kind == 0 ? 1 : 0));
            switch (kind)
            {
                case 0:
                    builder.Insert(at, c);
                    break;
                case 1 when builder.Length > 0:
                    builder.Remove(at, 1);
                    break;
                case 2 when builder.Length > 0:
                    builder[at] = c;
                    break;
            }
        }

        return builder.ToString();
    }
}
