namespace Bits.Protocol.Tests;

public class DestinationPathTests
{
    [Theory]
    [InlineData("/report.bin", "report.bin")]
    [InlineData("/a/b/c/x.bin", "a/b/c/x.bin")]
    [InlineData("/a%20b.bin", "a b.bin")]
    [InlineData("/a+b.bin", "a+b.bin")]
    [InlineData("/a%2Bb.bin", "a+b.bin")]
    [InlineData("/caf%C3%A9.bin", "café.bin")]
    [InlineData("/café.bin", "café.bin")]
    [InlineData("/x.bin?code=secret&y=1", "x.bin")]
    [InlineData("/a%E2%80%8Db.bin", "a\u200Db.bin")]
    [InlineData("/..a/b..c/x.bin", "..a/b..c/x.bin")]
    public void TryParse_ValidPath_DecodesExactlyOnce(string raw, string expected)
    {
        Assert.True(DestinationPath.TryParse(raw, out var name, out var problem), problem);
        Assert.Equal(expected, name);
    }

    [Theory]
    [InlineData("/dir%2Fx.bin")]
    [InlineData("/dir%2fx.bin")]
    [InlineData("/dir%5Cx.bin")]
    [InlineData("/%25%32%65.bin")]
    [InlineData("/100%25.bin")]
    [InlineData("/%E2%80%AEgpj.exe")]
    [InlineData("/\u202Egpj.exe")]
    [InlineData("/a\u061Cb")]
    [InlineData("/a\u200Eb")]
    [InlineData("/a\u200Fb")]
    [InlineData("/a\u202Ab")]
    [InlineData("/a\u2066b")]
    [InlineData("/a\u2069b")]
    public void TryParse_EncodedSeparatorPercentOrBidiControl_IsRefused(string raw)
    {
        Assert.False(DestinationPath.TryParse(raw, out _, out var problem));
        Assert.NotNull(problem);
    }

    [Theory]
    [InlineData("plain.bin", "plain.bin")]
    [InlineData("a\u2028b", "a\\u2028b")]
    [InlineData("a\u202Eb", "a\\u202Eb")]
    [InlineData("a\rb\\c", "a\\u000Db\\u005Cc")]
    [InlineData("caf\u00E9", "caf\u00E9")]
    public void ForLog_EscapesNonPrintingCharacters(string value, string expected)
    {
        Assert.Equal(expected, DestinationPath.ForLog(value));
    }
}
