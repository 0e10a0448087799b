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

    [Theory]
    [InlineData("https://a.example/uploads/x.bin?code=key&acct=42", "https://a.example/uploads/x.bin?acct=42")]
    [InlineData("https://a.example/uploads/x.bin?acct=42&CODE=key", "https://a.example/uploads/x.bin?acct=42")]
    [InlineData("https://a.example/uploads/x.bin?%63ode=key&code&b=1", "https://a.example/uploads/x.bin?b=1")]
    [InlineData("https://a.example/uploads/x.bin?code=key", "https://a.example/uploads/x.bin")]
    [InlineData("https://a.example/uploads/x.bin?codec=1&xcode=2", "https://a.example/uploads/x.bin?codec=1&xcode=2")]
    public void WithoutFunctionKey_DropsOnlyCode(string url, string expected)
    {
        Assert.Equal(expected, BitsNotifier.WithoutFunctionKey(new Uri(url)).AbsoluteUri);
        Assert.Equal("http://backend/n" + new Uri(expected).Query, BitsNotifier.ResolveNotificationUrl("http://backend/n", new Uri(url)).AbsoluteUri);
    }

    [Theory]
    [InlineData("notify.aspx", null, "Bits:PublicBaseUrl is required")]
    [InlineData("/notify", null, "Bits:PublicBaseUrl is required")]
    [InlineData("http://backend/notify", "ftp://x.example/", "Bits:PublicBaseUrl must be")]
    [InlineData("http://backend/notify", "https://x.example/?a=1", "Bits:PublicBaseUrl must be")]
    public void Validator_PublicBaseUrl(string notificationUrl, string? publicBase, string expected)
    {
        var options = new BitsServerOptions { PublicBaseUrl = publicBase is null ? null : new Uri(publicBase) };
        options.Areas["r"] = new BitsUploadAreaOptions { PathPrefix = "r", BlobPrefix = "r/", NotificationType = BitsNotificationType.ByValue, NotificationUrl = notificationUrl };

        var result = new BitsServerOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
        options.PublicBaseUrl = new Uri("https://bits.example/");
        options.Areas["r"].NotificationUrl = "notify.aspx";
        Assert.True(new BitsServerOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData("https://replies.example/r/42", true)]
    [InlineData("https://replies.example/r\u00E9", false)]
    [InlineData("https://replies.example/\u202E", false)]
    [InlineData("https://replies.example/a b", false)]
    [InlineData("ftp://replies.example/r", false)]
    [InlineData("/relative", false)]
    public void StaticResponseUrl_MustBeAbsolutePrintableAsciiHttp(string url, bool valid)
    {
        Assert.Equal(valid, BitsNotifier.IsValidStaticUrl(url));
    }

    [Fact]
    public void ReplyUrl_IsAbsoluteAndKeepsTheUploadQuery()
    {
        var url = BitsReplyNotification.ReplyUrl(new Uri("https://app.example/uploads/r/x.bin?code=k"), "{6F9619FF-8B86-D011-B42D-00C04FC964FF}");

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
