namespace Bits.Protocol.Tests;

public class UploadReplyUnitTests
{
    [Theory]
    [InlineData("http://backend/notify", "https://bits.example/uploads/a/b.bin", "http://backend/notify")]
    [InlineData("notify.aspx", "https://bits.example/uploads/a/b.bin", "https://bits.example/uploads/a/notify.aspx")]
    [InlineData("../app/bag.asp", "https://bits.example/uploads/a/b.bin", "https://bits.example/uploads/app/bag.asp")]
    [InlineData("http://backend/bag.asp", "https://bits.example/uploads/file.asp?ACCOUNT=86433", "http://backend/bag.asp?ACCOUNT=86433")]
    [InlineData("http://backend/bag.asp?x=1", "https://bits.example/uploads/f.bin?ACCOUNT=86433", "http://backend/bag.asp?x=1&ACCOUNT=86433")]
    public void ResolveNotificationUrl_RelativeToUploadDirectoryWithQueryAppended(string configured, string upload, string expected)
    {
        Assert.Equal(expected, BitsNotifier.ResolveNotificationUrl(configured, new Uri(upload)).AbsoluteUri);
    }

    [Fact]
    public void ReplyUrl_IsAbsoluteAndKeepsTheUploadQuery()
    {
        var url = BitsProtocolHandler.ReplyUrl(new Uri("https://app.example/uploads/r/x.bin?code=k"), "{6F9619FF-8B86-D011-B42D-00C04FC964FF}");

        Assert.Equal("https://app.example/uploads/r/x.bin?code=k&bits-reply=6f9619ff8b86d011b42d00c04fc964ff", url);
    }

    [Theory]
    [InlineData(null, 100, true, null, null)]
    [InlineData("bytes=0-9", 100, true, 0L, 9L)]
    [InlineData("bytes=90-", 100, true, 90L, 99L)]
    [InlineData("bytes=-10", 100, true, 90L, 99L)]
    [InlineData("bytes=-1000", 100, true, 0L, 99L)]
    [InlineData("bytes=50-1000", 100, true, 50L, 99L)]
    [InlineData("BYTES=1-2", 100, true, 1L, 2L)]
    [InlineData("bytes=100-", 100, false, null, null)]
    [InlineData("bytes=-0", 100, false, null, null)]
    [InlineData("bytes=5-1", 100, true, null, null)]
    [InlineData("bytes=0-1,5-6", 100, true, null, null)]
    [InlineData("items=0-1", 100, true, null, null)]
    [InlineData("bytes=0-9", 0, true, null, null)]
    public void ByteRange_Parses(string? header, long length, bool satisfiable, long? from, long? to)
    {
        Assert.Equal(satisfiable, ByteRange.TryParse(header, length, out var range));
        Assert.Equal(from, range?.From);
        Assert.Equal(to, range?.To);
    }
}
