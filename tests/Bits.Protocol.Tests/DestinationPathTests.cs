namespace Bits.Protocol.Tests;

public class DestinationPathTests
{
    [Theory]
    [InlineData("/report.bin", "report.bin")]
    [InlineData("/a/b/c/x.bin", "a/b/c/x.bin")]
    [InlineData("/a%20b.bin", "a b.bin")]
    [InlineData("/a+b.bin", "a+b.bin")]
    [InlineData("/a%2Bb.bin", "a+b.bin")]
    [InlineData("/%25%32%65.bin", "%2e.bin")]
    [InlineData("/caf%C3%A9.bin", "café.bin")]
    [InlineData("/café.bin", "café.bin")]
    [InlineData("/x.bin?code=secret&y=1", "x.bin")]
    [InlineData("/dir%2Fx.bin", "dir/x.bin")]
    [InlineData("/..a/b..c/x.bin", "..a/b..c/x.bin")]
    public void TryParse_ValidPath_DecodesExactlyOnce(string raw, string expected)
    {
        Assert.True(DestinationPath.TryParse(raw, out var name, out var problem), problem);
        Assert.Equal(expected, name);
    }
}
